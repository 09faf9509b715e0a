"""The README shows real output: its deterministic quick-start blocks are rerun and compared, its Python runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from in_process import archgen_here

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks() -> list[str]:
    return re.findall(r"```(?:\w*)\n(.*?)```", README, flags=re.S)


def transcript(command: str) -> str:
    """The README block that starts with `$ command`: the command's expected output, up to the next `$ `."""
    block = next(block for block in blocks() if f"$ {command}\n" in block)
    return block.split(f"$ {command}\n", 1)[1].split("$ ", 1)[0]


def run(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """What `command` prints, run from the checkout's root as the README shows it (tests/conftest.py makes the
    output plain and 120 columns wide, as a terminal of that width would)."""
    monkeypatch.chdir(ROOT)
    result = archgen_here(*command.split()[1:])
    return "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"


@pytest.mark.parametrize(
    "command",
    [
        "archgen build resnet34",
        "archgen validate specs/",
        "archgen validate specs/ tests/corpus/invalid/many_problems.toml",
    ],
)
def test_quick_start_prints_what_the_readme_shows(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(command, monkeypatch) == transcript(command)


def test_readme_python_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    code = next(block for block in blocks() if block.startswith("import archgen"))
    code += "\nassert cost.params == 25_557_032 and cost.macs == 4_089_184_256\n"
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})


def test_readme_lists_every_shipped_spec() -> None:
    from archgen.spec.library import shipped_specs

    missing = [name for name in shipped_specs() if f"`{name}`" not in README and not name.startswith("plain")]
    assert not missing, f"README's spec library table lacks {missing}"
