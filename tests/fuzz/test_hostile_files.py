"""Nasty files too big or too special to check in, made at test time: huge files, 100k stages, long extends
chains, symlink loops, FIFOs, unreadable files and huge parents, one by one and inside a validated folder.

The checked-in corpus (tests/corpus/invalid, expectations in tests/spec/test_corpus.py) holds the small ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_settings import located
from mutations import SHIPPED

from archgen.analysis import SPEC_CHECKS, analyze
from archgen.errors import Problem, SpecError
from archgen.spec import parse_spec, read_spec
from archgen.spec.document import MAX_FILE_BYTES

CIFAR = SHIPPED["resnet20"]


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        read_spec(path, checks=SPEC_CHECKS)
    assert all(located(problem, path) for problem in caught.value.problems), caught.value.problems
    return list(caught.value.problems)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_over_a_mebibyte_of_valid_toml(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.toml", CIFAR + "\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    [problem] = _problems(path)
    assert problem.message.startswith(f"file is {path.stat().st_size:,} bytes; a spec may be at most")


def test_extends_a_huge_file(tmp_path: Path) -> None:
    _write(tmp_path / "huge.toml", "x = 1\n" * (MAX_FILE_BYTES // 6 + 10))
    [problem] = _problems(_write(tmp_path / "child.toml", 'extends = "huge.toml"\n'))
    assert problem.file == tmp_path / "huge.toml" and "a spec may be at most" in problem.message
    assert problem.message.endswith(f"(extended by {tmp_path / 'child.toml'})")


def test_a_hundred_thousand_stages_by_rule(tmp_path: Path) -> None:
    text = CIFAR.replace("depths = [3, 3, 3]", "depths = [" + ", ".join(["1"] * 100_000) + "]")
    [problem] = _problems(_write(tmp_path / "stages.toml", text))
    assert (problem.line, problem.field) == (18, "body.depths") and "at most 8 items, not 100000" in problem.message


def test_twenty_thousand_explicit_stages(tmp_path: Path) -> None:
    body = CIFAR[: CIFAR.index("depths =")]
    text = body + "".join("\n[[body.stages]]\ndepth = 1\nwidth = 16\nstride = 1\n" for _ in range(20_000))
    problems = _problems(_write(tmp_path / "stages.toml", text))
    assert [problem.field for problem in problems] == ["body.stages"], problems[:3]
    assert "at most 8 items, not 20000" in problems[0].message


def test_a_long_extends_chain(tmp_path: Path) -> None:
    _write(tmp_path / "n0.toml", CIFAR)
    for index in range(1, 300):
        _write(tmp_path / f"n{index}.toml", f'extends = "n{index - 1}.toml"\n')
    [problem] = _problems(tmp_path / "n299.toml")
    assert problem.field == "extends" and "more than 16 specs in one extends chain" in problem.message


def test_input_size_two_to_the_31(tmp_path: Path) -> None:
    [problem] = _problems(_write(tmp_path / "size.toml", CIFAR.replace("size = 32", "size = 2147483648")))
    assert problem.field == "input.size" and "less than or equal to 4096, got 2147483648" in problem.message


def test_the_largest_macs_archgen_accepts_are_exact_python_integers() -> None:
    """MACs of the biggest spec the limits allow stay exact (Python ints); numpy's int64 would hold them too:
    params <= 1e9 and each weight is used at most 4096 x 4096 times per image, so MACs < 1.7e16 < 2**63."""
    spec = parse_spec({"name": "wide", "input": {"size": 4096, "classes": 1000}, "stem": {"kind": "cifar",
                       "width": 4096}, "body": {"block": "basic", "depths": [3], "width": 4096}}, checks=SPEC_CHECKS)
    complexity = analyze(spec)
    assert type(complexity.macs) is int and 2**53 < complexity.macs < 2**63  # beyond float64's exact integers
    per_conv = 9 * 4096 * 4096 * 4096 * 4096
    assert complexity.macs == 3 * 9 * 4096 * 4096 * 4096 + 6 * per_conv + 4096 * 1000


# --- files no parser should ever read ---------------------------------------------------------------


def test_a_symlink_loop_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    [problem] = _problems(tmp_path / "a.toml")
    assert problem.message == "cannot be read: Too many levels of symbolic links"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.toml")
    [problem] = _problems(tmp_path / "pipe.toml")
    assert problem.message == "is not a regular file"


def test_a_link_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    [problem] = _problems(tmp_path / "zero.toml")
    assert problem.message == "is not a regular file"


def test_an_unreadable_file(tmp_path: Path) -> None:
    """chmod 000 stops everyone but root (who runs CI here); /proc/self/mem is a regular file that no one can
    read at offset 0 (EIO): a real read failure under any user."""
    path = _write(tmp_path / "secret.toml", CIFAR)
    path.chmod(0)
    if os.geteuid() != 0:
        [problem] = _problems(path)
        assert problem.message == "permission denied: the file cannot be read"
    else:
        assert read_spec(path).name == "resnet20"  # what root sees: the file reads
    mem = tmp_path / "mem.toml"
    mem.symlink_to("/proc/self/mem")
    if not Path("/proc/self/mem").exists():
        pytest.skip("no /proc")
    [problem] = _problems(mem)
    assert problem.message.startswith("cannot be read: ") or problem.message == "file is empty", problem


@pytest.mark.slow  # in a subprocess, so that a hang is a timeout
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_validate_a_folder_of_special_files_does_not_hang(tmp_path: Path) -> None:
    """One `archgen validate DIR` over a FIFO, link loops, a dangling link, a link to /dev/zero, a folder named
    *.toml and a directory loop: each special entry reported (CI must not pass them by), nothing read forever."""
    folder = tmp_path / "specs"
    (folder / "dir.toml").mkdir(parents=True)
    _write(folder / "good.toml", CIFAR)
    os.mkfifo(folder / "pipe.toml")
    (folder / "loop.toml").symlink_to(folder / "loop2.toml")
    (folder / "loop2.toml").symlink_to(folder / "loop.toml")
    (folder / "dangling.toml").symlink_to(folder / "gone.toml")
    (folder / "zero.toml").symlink_to("/dev/zero")
    (folder / "again").symlink_to(folder)  # a folder loop: rglob must not follow it
    result = subprocess.run([sys.executable, "-m", "archgen", "validate", str(folder), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    files = {Path(entry["path"]).name: entry for entry in json.loads(result.stdout)["files"]}
    assert sorted(files) == ["dangling.toml", "good.toml", "loop.toml", "loop2.toml", "pipe.toml", "zero.toml"]
    assert files["good.toml"]["valid"]
    messages = {name: [p["message"] for p in entry["problems"]] for name, entry in files.items() if not entry["valid"]}
    assert messages == {
        "dangling.toml": ["no such file"],
        "loop.toml": ["cannot be read: Too many levels of symbolic links"],
        "loop2.toml": ["cannot be read: Too many levels of symbolic links"],
        "pipe.toml": ["is not a regular file"],
        "zero.toml": ["is not a regular file"],
    }
