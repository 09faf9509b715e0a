"""The study folder's files: `archgen search` and `archgen report` write best.toml, pareto/ and plots there, and replace
a file only if a search or report of the same study wrote it and it is unchanged since, or with --force.

Each refusal has its control: the same command on the study's own unchanged file replaces it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import TINY, make_config

from archgen.files import OutputExists
from archgen.search import optimize, write_outputs
from archgen.search.outputs import MANIFEST

USERS = b"# my own best.toml, hand-tuned\n"


@pytest.fixture(autouse=True)
def _fake_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(tmp_path / "trained.jsonl"))


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """The folder of a finished study of three trials (fake trainer), its journal in study/journal.log."""
    assert optimize(make_config(tmp_path, trials=3)).verdict == "done"
    return tmp_path / "study"


def archgen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`archgen ARGS` through archgen.cli.main (the error boundary): exit code and stderr."""
    from archgen.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    return code, capsys.readouterr().err


def report(capsys: pytest.CaptureFixture[str], study: Path, out: Path, *more: str) -> tuple[int, str]:
    return archgen(capsys, "report", str(study), "--out", str(out), *more)


def test_a_users_own_best_toml_is_refused_and_left_whole(study: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "best.toml").write_bytes(USERS)
    code, err = report(capsys, study, out)
    assert code == 1 and err == f"error: {out / 'best.toml'} exists; pass --force to replace it\n"
    assert (out / "best.toml").read_bytes() == USERS
    assert sorted(os.listdir(out)) == ["best.toml"]  # nothing written: no plot, no manifest


def test_control_a_rerun_of_the_same_study_replaces_its_own_files(study: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert report(capsys, study, out) == (0, "")
    written = json.loads((out / MANIFEST).read_text())
    assert written["study"] == "tiny" and {"best.toml", "history.png"} <= set(written["files"])
    (out / "history.png").write_bytes(b"stale")  # as if the study had moved on: not its bytes any more...
    assert report(capsys, study, out)[0] == 1 and (out / "history.png").read_bytes() == b"stale"  # ...so refused
    (out / "history.png").unlink()
    assert report(capsys, study, out) == (0, "")  # its own unchanged files, and a missing one: rewritten
    assert (out / "history.png").read_bytes().startswith(b"\x89PNG")


def test_force_replaces_a_users_file(study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "best.toml").write_bytes(USERS)
    assert report(capsys, study, out, "--force") == (0, "")
    assert (out / "best.toml").read_bytes().startswith(b"# Found by `archgen search` (study 'tiny', trial ")


def test_another_studys_files_are_not_this_ones(study: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    write_outputs(folder, {"best.toml": b"a"}, study="other")
    with pytest.raises(OutputExists, match=r"best\.toml exists; pass --force"):
        write_outputs(folder, {"best.toml": b"b"}, study="tiny")
    assert write_outputs(folder, {"best.toml": b"c"}, study="other") == [folder / "best.toml"]  # control: its own


def test_a_fifo_or_a_damaged_manifest_is_refused_without_being_read(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    os.mkfifo(folder / "history.png")  # opening it to hash would block for ever
    with pytest.raises(OutputExists, match=r"history\.png exists"):
        write_outputs(folder, {"history.png": b"png"}, study="tiny")
    (folder / MANIFEST).write_text("[1, 2]")
    with pytest.raises(OutputExists, match=re.escape(MANIFEST)):
        write_outputs(folder, {"best.toml": b"x"}, study="tiny")
    assert write_outputs(folder, {"history.png": b"png"}, study="tiny", force=True) == [folder / "history.png"]
    assert json.loads((folder / MANIFEST).read_text())["study"] == "tiny"  # --force replaced the manifest too


def test_search_refuses_before_it_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`archgen search --out` onto a user's best.toml: one line, and no study, no training, no file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.toml").write_text(TINY)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "best.toml").write_bytes(USERS)
    code, err = archgen(capsys, "search", "space.toml", "--trials", "1", "--out", str(out))
    assert code == 1 and err == f"error: {out / 'best.toml'} exists; pass --force to replace it\n"
    assert not (tmp_path / "runs").exists() and sorted(os.listdir(out)) == ["best.toml"]
