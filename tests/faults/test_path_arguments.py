"""Path arguments that name a folder where a file is meant, or a file where a folder is (docs/safety.md): on every
command, whatever commands exist (a walk over their options), one line and exit 2, never a traceback, nothing
written. The class behind `archgen new … --out .`, which wrote its spec through a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from in_process import archgen_here

from archgen.cli.app import app

ROOT = typer.main.get_command(app)


def _path_options(kind: str) -> list[tuple[str, str]]:
    return [(name, max(option.opts, key=len)) for name, command in ROOT.commands.items()  # type: ignore[attr-defined]
            for option in command.params if option.param_type_name == "option" and option.metavar == kind]


@pytest.mark.parametrize(("name", "flag"), _path_options("FILE"))
def test_a_file_option_given_a_folder_is_one_line(name: str, flag: str, tmp_path: Path) -> None:
    outcome = archgen_here(name, flag, str(tmp_path))
    assert outcome.code == 2 and "is a directory" in outcome.stderr and len(outcome.stderr.splitlines()) == 1
    assert "Traceback" not in outcome.stderr


@pytest.mark.parametrize(("name", "flag"), _path_options("DIR"))
def test_a_folder_option_given_a_file_is_one_line(name: str, flag: str, tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    outcome = archgen_here(name, flag, str(file))
    assert outcome.code == 2 and "is a file" in outcome.stderr and len(outcome.stderr.splitlines()) == 1


def test_the_file_options_are_found() -> None:  # control: the two walks above are not empty
    assert ("new", "--out") in _path_options("FILE") and ("train", "--out") in _path_options("DIR")


def test_new_out_dot_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    outcome = archgen_here("new", "--family", "cifar", "--depth", "20", "--out", ".")
    assert outcome.code == 2 and "'.' is a directory" in outcome.stderr and list(tmp_path.iterdir()) == []


