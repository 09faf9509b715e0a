"""`archgen validate`: exit codes, one greppable line per problem, JSON and GitHub formats, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archgen.cli.app import app
from archgen.spec.library import LIBRARY_ROOT, shipped_specs

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "invalid"
runner = CliRunner()


def test_every_shipped_spec_is_valid() -> None:
    result = runner.invoke(app, ["validate", str(LIBRARY_ROOT)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{len(shipped_specs())} specs valid\n"


def test_corpus_is_refused_file_by_file_with_a_summary() -> None:
    result = runner.invoke(app, ["validate", str(CORPUS)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    files = sorted(CORPUS.glob("*.toml"))
    assert lines[-1].startswith(f"{len(files)} of {len(files)} specs invalid (")
    for path in files:  # a problem found in a parent names the file that extends it too
        assert any(str(path) in line for line in lines), path
    assert all(line.startswith(str(CORPUS)) for line in lines[:-1])  # every problem line starts with a file
    assert "Traceback" not in result.output


def test_one_line_per_problem_with_line_and_field() -> None:
    result = runner.invoke(app, ["validate", str(CORPUS / "many_problems.toml"), str(LIBRARY_ROOT / "resnet34.toml")])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{CORPUS / 'many_problems.toml'}:1: name: must start with a letter or digit and hold only letters, digits, "
        "'_', '-' and '.', got string 'many problems'",
        f"{CORPUS / 'many_problems.toml'}:6: input.colour: unknown key 'colour' (allowed: channels, size, classes)",
        f"{CORPUS / 'many_problems.toml'}:9: stem.kind: string 'imagnet' is not allowed; did you mean 'imagenet'? "
        "(choose from 'cifar', 'imagenet', 'deep')",
        f"{CORPUS / 'many_problems.toml'}:15: body.width: must be an integer, got string '16'",
        "1 of 2 specs invalid (4 problems)",
    ]


def test_long_problem_lines_are_never_wrapped() -> None:
    result = runner.invoke(app, ["validate", str(CORPUS / "bad_reference.toml")], terminal_width=40)
    assert len(result.output.splitlines()) == 2


def test_json_format(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(CORPUS / "syntax_error.toml"), "resnet20"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert report["summary"] == "1 of 2 specs invalid (1 problem)"
    bad, good = report["files"]
    assert good == {"path": "resnet20", "valid": True, "name": "resnet20", "problems": []}
    assert bad["problems"] == [
        {
            "file": str(CORPUS / "syntax_error.toml"),
            "line": 2,
            "column": 7,
            "field": None,
            "message": "invalid TOML: Expected ']' at the end of a table declaration",
            "text": f"{CORPUS / 'syntax_error.toml'}:2:7: invalid TOML: Expected ']' at the end of a table declaration",
        }
    ]


def test_github_annotations() -> None:
    result = runner.invoke(app, ["validate", "-f", "github", str(CORPUS / "unknown_key.toml")])
    assert result.exit_code == 1
    annotation, summary = result.output.splitlines()
    assert annotation.startswith(f"::error file={CORPUS / 'unknown_key.toml'},line=12,title=archgen%3A body.dpeths::")
    assert annotation.endswith("::body.dpeths: unknown key 'dpeths'; did you mean 'depths'? (allowed: block, depths, "
                               "width, stages, shortcut, residual, expansion, stride_at, groups, width_per_group, "
                               "zero_init_residual, placement, shortcut_scale, branch_scale, gate, gate_bias, "
                               "shortcut_dropout)")
    assert summary == "1 of 1 spec invalid (1 problem)"


def test_github_annotations_escape_newlines_and_percent(tmp_path: Path) -> None:
    from archgen.errors import Problem
    from archgen.report.problems import github
    from archgen.validation import FileResult, ValidationReport

    problem = Problem(tmp_path / "a,b:c.toml", "50% off\nsecond line", line=3, column=4, field="body")
    text = github(ValidationReport((FileResult(problem.file or tmp_path, problems=(problem,)),)))
    assert text.splitlines()[0] == (
        f"::error file={tmp_path}/a%2Cb%3Ac.toml,line=3,col=4,title=archgen%3A body::body: 50%25 off%0Asecond line"
    )


def test_missing_paths_and_empty_folders_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.toml"), str(tmp_path / "empty"), "resnt34"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{tmp_path / 'nope.toml'}: no such file",
        f"{tmp_path / 'empty'}: folder holds no *.toml spec files",
        "resnt34: no such file, and no shipped spec of that name; did you mean 'resnet34'?",
        "3 of 3 specs invalid (3 problems)",
    ]


def test_no_paths_is_a_usage_error() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2


def test_bad_format_is_a_usage_error() -> None:
    result = runner.invoke(app, ["validate", "--format", "xml", "resnet20"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_real_process_prints_no_traceback_and_exits_1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "archgen", "validate", str(CORPUS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr == ""
    assert "Traceback" not in done.stdout
    assert done.stdout.count("\n") >= len(list(CORPUS.glob("*.toml"))) + 1
