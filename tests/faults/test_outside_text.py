"""Text from outside archgen is shown as it is (docs/safety.md): folder and file names, what a run's files say, data
sources, storages. Each command is fed names holding a terminal escape and rich markup; the escape must reach the
terminal escaped (`\\x1b`), never raw, and `[red]` must show as those characters, never be read as markup
(the name would vanish). Control: the plain name's characters do reach the output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from in_process import Outcome, archgen_here
from tiny import write_tiny_spec

# a colour, rich markup (no closing tag: a file name holds no '/'), a hyperlink's start (OSC 8) and BEL
HOSTILE = "x\x1b[31m[red]y[bold]\x1b]8;;e\x07"
SHOWN = "x\\x1b[31m[red]y[bold]\\x1b]8;;e\\x07"  # the same characters, escaped as Python writes them
DATA = "synthetic:3x8x8,classes=3,train=16,val=8"


def _literal(outcome: Outcome, *, where: str = "both") -> str:
    text = {"stdout": outcome.stdout, "stderr": outcome.stderr, "both": outcome.stdout + outcome.stderr}[where]
    assert "\x1b" not in text and "\x07" not in text, text  # nothing raw reaches the terminal
    assert SHOWN in text, text  # the whole name, markup and all, shown literally
    return text


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, list[Path]]:
    """A run trained into a folder whose name holds an escape and markup; two copies of it (their labels are then
    the folders' names), one with a summary.json whose status holds them too."""
    root = tmp_path_factory.mktemp("outside")
    spec = write_tiny_spec(root / "tiny.toml", epochs=1)
    outcome = archgen_here("train", str(spec), "--data", DATA, "--set", "input.size=8",
                           "--out", str(root / HOSTILE))
    assert outcome.code == 0, outcome.stderr
    (run,) = (root / HOSTILE).iterdir()
    copies = [root / f"a-{HOSTILE}", root / f"b-{HOSTILE}"]
    for copy in copies:
        shutil.copytree(run, copy)
    summary = json.loads((copies[1] / "summary.json").read_text())
    (copies[1] / "summary.json").write_text(json.dumps({**summary, "status": f"failed: {HOSTILE}"}))
    return outcome, copies


@pytest.mark.slow
def test_train_shows_its_run_folder_literally(hostile_runs: tuple[Outcome, list[Path]]) -> None:
    outcome, _ = hostile_runs
    text = _literal(outcome, where="stdout")
    assert "  run      " in text and "wrote " in text


@pytest.mark.slow
def test_compare_shows_folder_names_and_statuses_literally(hostile_runs: tuple[Outcome, list[Path]],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell folds: each name is on one line
    _, copies = hostile_runs
    table = archgen_here("compare", *map(str, copies))
    assert table.code == 0, table.stderr
    assert _literal(table).count(SHOWN) >= 3  # two labels and a status
    markdown = archgen_here("compare", *map(str, copies), "--markdown")
    assert _literal(markdown).count(SHOWN) >= 3


def test_validate_and_errors_name_files_literally(tmp_path: Path) -> None:
    bad = tmp_path / f"{HOSTILE}.toml"
    bad.write_text('name = "n"\n[body]\nwidth = "16"\n')
    _literal(archgen_here("validate", str(bad)), where="stdout")
    for args in (["build", str(bad)], ["train", "--data", f"imagefolder:{tmp_path / HOSTILE}"],
                 ["compare", str(tmp_path / HOSTILE)], ["responses", str(tmp_path / HOSTILE), "--device", "cpu"],
                 ["grow", str(tmp_path / HOSTILE), "--spec", "resnet20"], ["report", str(tmp_path / HOSTILE)]):
        outcome = archgen_here(*args)
        assert outcome.code == 1 and "Traceback" not in outcome.stderr and "\x1b" not in outcome.stderr, args
        assert all(SHOWN in line for line in outcome.stderr.splitlines())  # one line per problem, each naming it


def test_new_says_what_it_wrote_literally(tmp_path: Path) -> None:
    outcome = archgen_here("new", "--family", "cifar", "--depth", "20", "--out", str(tmp_path / f"{HOSTILE}.toml"))
    assert outcome.code == 0 and (tmp_path / f"{HOSTILE}.toml").is_file()
    _literal(outcome, where="stderr")


@pytest.mark.slow
def test_search_and_report_show_their_storage_and_folder_literally(tmp_path: Path) -> None:
    folder = tmp_path / HOSTILE
    folder.mkdir()
    searched = archgen_here("search", "--trials", "1", "--epochs", "1", "--study", "outside",
                            "--storage", str(folder / "journal.log"), "--out", str(folder))
    assert searched.code == 0, searched.stderr
    _literal(searched, where="stdout")  # the opening line's storage, the files written
    reported = archgen_here("report", str(folder))
    assert reported.code == 0, reported.stderr
    _literal(reported, where="stdout")
