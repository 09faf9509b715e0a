"""`archgen compare`: runs' curves overlaid in one PNG and a table (rich or Markdown) of errors, params and MACs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from in_process import archgen_here
from typer.testing import CliRunner

import archgen
from archgen.cli.app import app
from archgen.training import train

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("runs")
    runs = []
    for residual in (True, False):
        spec = archgen.parse_spec({
            "name": "net-res" if residual else "net-plain", "input": {"channels": 1, "size": 8, "classes": 10},
            "stem": {"kind": "cifar", "width": 4},
            "body": {"block": "basic", "depths": [1, 1], "width": 4, "shortcut": "A", "residual": residual},
            "train": {"epochs": 2, "batch_size": 128},
        })
        result = train(spec, out=out)
        assert result.run_dir is not None
        runs.append(result.run_dir)
    return runs


@pytest.mark.slow
def test_table_and_png(two_runs: list[Path], tmp_path: Path) -> None:
    plot = tmp_path / "both.png"
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line.startswith("net-")}
    header = next(line for line in result.output.splitlines() if line.startswith("network"))
    assert header.split() == ["network", "epochs", "train", "err", "train", "loss", "val", "err", "best", "val",
                              "params", "MACs"]  # no status column: every run finished
    params = f"{archgen.analyze(archgen.load_spec(two_runs[0] / 'spec.toml')).params:,}"
    assert rows["net-res"][1] == "2" and rows["net-res"][6] == params and rows["net-plain"][2].endswith("%")
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"wrote {plot}" in result.output


@pytest.mark.slow
def test_markdown_for_docs(two_runs: list[Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--plot", str(tmp_path / "c.png"), "--markdown"])
    lines = result.stdout.splitlines()
    assert lines[0] == "| network | epochs | train err | train loss | val err | best val | params | MACs |"
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|---:|" and lines[2].startswith("| net-res | 2 | ")


def test_not_a_run_folder(tmp_path: Path) -> None:
    result = archgen_here("compare", str(tmp_path))
    assert result.code == 1
    assert f"error: {tmp_path}: not a run folder (expected {tmp_path}/spec.toml)" in result.stderr


@pytest.mark.slow
def test_unfinished_runs_show_their_status(two_runs: list[Path], tmp_path: Path) -> None:
    (two_runs[1] / "summary.json").unlink()  # as if killed before the end
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--plot", str(tmp_path / "c.png"), "--markdown"])
    assert result.stdout.splitlines()[0].endswith("| MACs | status |")
    assert "| net-plain | 2/2 |" in result.stdout and "| running or killed |" in result.stdout


@pytest.mark.slow
def test_no_png_unless_asked_so_it_runs_twice(two_runs: list[Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        outcome = archgen_here("compare", *map(str, two_runs))
        assert outcome.code == 0 and "net-res" in outcome.stdout and "wrote" not in outcome.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_json_is_one_document_on_stdout(two_runs: list[Path]) -> None:
    outcome = archgen_here("compare", *map(str, two_runs), "--json")
    assert outcome.code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert [run["label"] for run in document["runs"]] == ["net-res", "net-plain"]
    assert all(len(run["history"]) == 2 and 0 <= run["val_error"] <= 1 for run in document["runs"])
    assert document["plot"] is None
