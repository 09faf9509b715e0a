"""Every command in docs/*.md runs here, in order, and prints what the docs show; every spec they show validates.

Conventions (written for doc writers at the top of docs/README.md): ```console blocks hold `$ ` commands and
their output; ```toml and ```python blocks starting with `# NAME.toml` / `# NAME.py` are files written into the
doc's working folder before its commands run.
Commands that cannot run here (a CUDA GPU, several machines, the network) are listed in SUBSTITUTES with
the reason, and run in the CPU form given there: never skipped.

`python tests/docs/test_docs_commands.py --capture docs/FILE.md` reruns a doc and writes the real output in.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from transcripts import Command, commands, matches, normal, output_lines

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))
# What a doc's working folder holds of the checkout: a newcomer runs the docs from a clone of it.
LINKED = ("archgen", "specs", "scripts", "tests", "pyproject.toml", "README.md", ".venv")
TIMEOUT = 300


@dataclass(frozen=True)
class Substitute:
    """A doc command this machine cannot run as written, the form it runs in instead, and why."""

    pattern: str
    replacement: str
    reason: str

    def apply(self, text: str, values: dict[str, str]) -> str:
        return re.sub(self.pattern, self.replacement.format_map(values), text)


# Every substitution must be used by some doc (test_every_substitute_is_used), so this list cannot go stale.
SUBSTITUTES = (
    Substitute(
        r"^python3 -m venv \.venv && \. \.venv/bin/activate && pip install -e '\.\[dev\]'$",
        "python -c 'import archgen, torch, optuna, onnxruntime'",
        "no network here; .ci/run installs exactly this way, and this test runs in that install",
    ),
    Substitute(
        r"--device cuda(:\d+)?\b", "--device cpu",
        "no CUDA GPU on the test machine: the same command on the CPU",
    ),
    Substitute(
        r"--nnodes 2 --nproc-per-node 8 --rdzv-id (\S+) --rdzv-backend c10d --rdzv-endpoint \S+",
        r"--nnodes 1 --nproc-per-node 2 --rdzv-id \1 --rdzv-backend c10d --rdzv-endpoint localhost:{port}",
        "one machine, no GPUs: one node of two CPU processes (gloo) through the same c10d rendezvous",
    ),
    Substitute(
        r"--nproc-per-node 4\b", "--nproc-per-node 2",
        "two CPU cores: two processes (gloo) instead of four GPUs (NCCL)",
    ),
    Substitute(
        r"postgresql://archgen:secret@db\.example\.org/archgen", "{postgres}",
        "the doc's database server is imaginary: the test's own PostgreSQL server (tests/search/conftest.py)",
    ),
    Substitute(
        r"cifar10:~/datasets\b", "cifar10:{cifar} --epochs 1",
        "no CIFAR-10 here: tiny batches in the same format (tests/data/fake_data.py), one epoch, not 164",
    ),
    Substitute(
        r"^unzip -q \S+/cifar10-jpeg-(train|test)\.zip -d data/cifar10$", "true",
        "the test trains on a tiny CIFAR-10 in the same format instead of unpacking 60,000 JPEGs",
    ),
    Substitute(
        r"imagefolder:data/cifar10\b", "cifar10:{cifar} --epochs 1",
        "the test trains on a tiny CIFAR-10 for one epoch instead of the unpacked JPEGs",
    ),
    Substitute(
        r"^scripts/degradation\.sh$", "EPOCHS=1 scripts/degradation.sh",
        "four trainings of 100 epochs take ~4 minutes: the test runs the same script at 1 epoch",
    ),
)


def substitute(text: str, values: dict[str, str]) -> tuple[str, list[Substitute]]:
    used = [sub for sub in SUBSTITUTES if re.search(sub.pattern, text)]
    for sub in used:
        text = sub.apply(text, values)
    return text, used


# --- the working folder a doc runs in ------------------------------------------------------------------


FILE_BLOCK = re.compile(r"^```(toml|python)( invalid)?\n(# ([\w./-]+\.(?:toml|py))\b.*?)^```", flags=re.S | re.M)


def doc_files(doc: Path) -> list[tuple[str, str, bool]]:
    """(name, text, meant to be invalid) of every ```toml or ```python block that is a file (`# NAME.ext` first)."""
    text = doc.read_text(encoding="utf-8")
    return [(match.group(4), match.group(3), bool(match.group(2))) for match in FILE_BLOCK.finditer(text)]


def workdir(tmp_path: Path, doc: Path) -> Path:
    """A folder that looks like a clone of the checkout (without runs/ or data/), with the doc's TOML files."""
    folder = tmp_path / "archgen"
    folder.mkdir()
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    for name, text, _ in doc_files(doc):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def environment() -> dict[str, str]:
    bin_folder = str(Path(sys.executable).parent)
    return {
        **os.environ, "PATH": f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "120",
        "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE",
    }


def run(command: Command, folder: Path, values: dict[str, str]) -> tuple[str, subprocess.CompletedProcess[str]]:
    text, _ = substitute(command.text, values)
    result = subprocess.run(
        ["bash", "-c", text], cwd=folder, env=environment(), capture_output=False, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT,
    )
    return text, result


def values_for(tmp_path: Path, needs: Callable[[str], str]) -> dict[str, str]:
    """What substitutions fill in; each made only when a command asks for it."""

    class Lazy(dict[str, str]):
        def __missing__(self, key: str) -> str:
            self[key] = needs(key)
            return self[key]

    return Lazy()


def _tiny_cifar(tmp_path: Path) -> str:
    spec = importlib.util.spec_from_file_location("docs_fake_data", ROOT / "tests" / "data" / "fake_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.write_cifar_batches(tmp_path / "cifar", per_batch=32))


def _free_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


# --- the tests -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda path: path.name)
def test_doc_commands_run_and_print_what_the_doc_shows(doc: Path, tmp_path: Path, request: pytest.FixtureRequest
                                                       ) -> None:
    folder = workdir(tmp_path, doc)
    values = values_for(tmp_path, lambda key: {
        "postgres": lambda: request.getfixturevalue("postgres_url"),
        "cifar": lambda: _tiny_cifar(tmp_path),
        "port": _free_port,
    }[key]())
    for command in commands(doc):
        text, result = run(command, folder, values)
        actual = output_lines(result.stdout)
        assert result.returncode == command.exit_code, (
            f"{command.where}: `{text}` exited {result.returncode}, the doc says {command.exit_code}:\n"
            + "\n".join(actual[-40:])
        )
        if not output_lines("\n".join(command.expected)):
            continue  # no output shown: only the exit status is checked
        assert matches(command.expected, actual, numbers_vary=command.numbers_vary), (
            f"{command.where}: `{text}` printed other output than the doc shows "
            f"(- doc, + actual; compared as normalised):\n{difference(command, actual)}"
            f"\n(write the real output in: python tests/docs/test_docs_commands.py --capture docs/{doc.name})"
        )


def difference(command: Command, actual: list[str]) -> str:
    shown = output_lines("\n".join(command.expected))
    return "\n".join(difflib.unified_diff(
        [normal(line, numbers_vary=command.numbers_vary) for line in shown],
        [normal(line, numbers_vary=command.numbers_vary) for line in actual], lineterm="", n=1,
    ))


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda path: path.name)
def test_doc_specs_validate(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```toml file of a doc loads as a spec (one marked `invalid` must not), read in the folder the doc's
    commands run in (paths in a spec other than `extends`, such as `[search] enqueue`, are the working folder's)."""
    import archgen

    folder = workdir(tmp_path, doc)
    monkeypatch.chdir(folder)
    files = [file for file in doc_files(doc) if file[0].endswith(".toml")]
    blocks = re.findall(r"^```toml\b", doc.read_text(encoding="utf-8"), flags=re.M)
    assert len(blocks) == len(files), f"{doc.name}: a ```toml block must start with `# NAME.toml` (it is a file)"
    for name, _, invalid in files:
        if invalid:
            with pytest.raises(archgen.SpecError):
                archgen.load_spec(folder / name)
        else:
            archgen.load_spec(folder / name)


def test_substituted_commands_show_no_output() -> None:
    """A substituted command ran in another form here, so any output shown for it would not be real."""
    shown = [command.where for doc in DOC_FILES for command in commands(doc)
             if substitute(command.text, _DUMMY)[1] and output_lines("\n".join(command.expected))]
    assert not shown, f"substituted commands with output in the docs: {shown}"


def test_every_substitute_is_used() -> None:
    used = {id(sub) for doc in DOC_FILES for command in commands(doc) for sub in substitute(command.text, _DUMMY)[1]}
    unused = [sub.pattern for sub in SUBSTITUTES if id(sub) not in used]
    assert not unused, f"SUBSTITUTES no doc needs any more: {unused}"


def test_every_doc_is_linked_from_the_index() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [doc.name for doc in DOC_FILES if doc.name != "README.md" and f"]({doc.name})" not in index]
    assert not missing, f"docs/README.md does not link {missing}"


_DUMMY = {"postgres": "postgresql://x@y/z", "cifar": "cifar", "port": "1"}


# --- capture: write the real output into a doc -----------------------------------------------------------


def capture(doc: Path) -> None:
    """Run `doc`'s commands as the test does and replace each shown output with the real one."""
    import tempfile

    lines = doc.read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        folder = workdir(tmp_path, doc)
        values = values_for(tmp_path, lambda key: {"cifar": lambda: _tiny_cifar(tmp_path), "port": _free_port}[key]())
        replacements: list[tuple[Command, list[str]]] = []
        for command in commands(doc):
            if substitute(command.text, _DUMMY)[1]:
                continue  # runs in another form here: nothing real to show
            text, result = run(command, folder, values)
            print(f"{command.where}: exit {result.returncode}: {text}", file=sys.stderr)
            replacements.append((command, output_lines(result.stdout)))
        shutil.rmtree(folder, ignore_errors=True)
    for command, actual in reversed(replacements):
        start = command.output_line - 1
        lines[start:start + len(command.expected)] = actual
    doc.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--capture":
        sys.exit("usage: python tests/docs/test_docs_commands.py --capture docs/FILE.md")
    capture(Path(sys.argv[2]).resolve())
