"""Random bytes and text as spec files: `read_spec` and `archgen validate` raise nothing but located SpecErrors.

Budgets: `examples(n)` (tests/fuzz/fuzz_settings.py); `pytest tests/fuzz --hypothesis-profile=deep` runs 40x
as many with fresh seeds. The CLI runs once over a folder of hundreds of fuzzed files (one subprocess per format).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from fuzz_settings import Tally, examples, load_or_located, located
from hypothesis import given
from hypothesis import strategies as st
from mutations import SHIPPED, random_file
from typer.testing import CliRunner

from archgen.errors import Problem

TALLY = Tally()
FOLDER_FILES = 600
runner = CliRunner()

_lines = st.sampled_from(sorted({line for text in SHIPPED.values() for line in text.splitlines()}))
_toml_ish = st.lists(st.one_of(_lines, _lines, st.text(max_size=30)), max_size=40).map("\n".join)
_text = st.one_of(st.text(max_size=400), _toml_ish, st.text(st.characters(codec="utf-8"), max_size=200))


def _load(raw: bytes, outcomes: Counter[str]) -> list[Problem]:
    """The problems of a spec file holding `raw` (empty when it is valid); any other exception fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.toml"
        path.write_bytes(raw)
        return load_or_located(path, outcomes)[1]


@examples(500)
@given(st.binary(max_size=600))
def test_random_bytes_are_located_problems(raw: bytes) -> None:
    _load(raw, TALLY.of(test_random_bytes_are_located_problems))


@examples(500)
@given(_text)
def test_random_text_is_located_problems(text: str) -> None:
    _load(text.encode("utf-8", "surrogatepass"), TALLY.of(test_random_text_is_located_problems))


def test_the_fuzzers_produced_problems() -> None:
    """Control: the fuzzers above mostly fed invalid files (a predicate that passes everything would show here)."""
    outcomes = TALLY.after(test_random_bytes_are_located_problems, test_random_text_is_located_problems)
    assert outcomes["invalid"] > 100, outcomes


def test_the_location_predicate_rejects_unlocated_problems(tmp_path: Path) -> None:
    """Control: `located` refuses problems that name no file, another file, no line or field, or span lines."""
    path = tmp_path / "a.toml"
    assert located(Problem(path, "invalid TOML: x", line=3, column=1), path)
    assert located(Problem(path, "must be a table", field="input"), path)
    assert located(Problem(path, "no such file"), path)
    assert not located(Problem(None, "invalid TOML: x", line=3), path)
    assert not located(Problem(tmp_path / "b.toml", "invalid TOML: x", line=3), path)
    assert not located(Problem(path, "must be an integer"), path)
    assert not located(Problem(path, "unknown key", line=2, field="body.a\nb"), path)


def test_validate_in_process_one_file_at_a_time(tmp_path: Path) -> None:
    """typer's CliRunner on single fuzzed files: exit 1, one located line per problem, never a traceback."""
    from archgen.cli.app import app

    for seed in range(40):
        path = tmp_path / f"f{seed}.toml"
        path.write_bytes(random_file(random.Random(seed)))
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code in (0, 1), result.output
        *problems, summary = result.output.splitlines()
        assert summary in {"1 spec valid", f"1 of 1 spec invalid ({len(problems)} problem{'s' * (len(problems) > 1)})"}
        assert all(line.startswith(f"{path}:") for line in problems), problems


@pytest.fixture(scope="module")
def fuzzed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzzed")
    for seed in range(FOLDER_FILES):
        (folder / f"f{seed:03d}.toml").write_bytes(random_file(random.Random(seed)))
    return folder


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archgen", "validate", *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_validate_a_folder_of_fuzzed_files_as_json(fuzzed_folder: Path) -> None:
    result = _validate(str(fuzzed_folder), "--format", "json")
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    report = json.loads(result.stdout)
    files = {Path(entry["path"]): entry for entry in report["files"]}
    assert sorted(files) == sorted(fuzzed_folder.glob("*.toml"))
    invalid = [entry for entry in files.values() if not entry["valid"]]
    assert len(invalid) > FOLDER_FILES // 2
    for entry in invalid:
        for problem in entry["problems"]:
            path = Path(entry["path"])
            rebuilt = Problem(Path(problem["file"]), problem["message"], problem["line"], problem["column"],
                              problem["field"])
            assert located(rebuilt, path), problem


@pytest.mark.slow
def test_validate_a_folder_of_fuzzed_files_as_text(fuzzed_folder: Path) -> None:
    result = _validate(str(fuzzed_folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    *problems, summary = result.stdout.splitlines()
    assert summary.startswith(f"of {FOLDER_FILES} specs invalid", summary.index(" ") + 1), summary
    file = f"{re.escape(str(fuzzed_folder))}/f" + r"\d{3}\.toml"
    own = re.compile(file + r"(:\d+(:\d+)?: |: [\w.]+: |: )")  # path:line[:col]: or path: field: (or whole file)
    parent = re.compile(r"[^:]+\.toml:\d+: .*\(extended by " + file + r"\)$")  # found in a file it extends
    assert all(own.match(line) or parent.match(line) for line in problems), [
        line for line in problems if not (own.match(line) or parent.match(line))
    ]
    assert len({line.split(":")[0] for line in problems}) > FOLDER_FILES // 2
