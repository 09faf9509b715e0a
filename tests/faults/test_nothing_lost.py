"""Nothing finished is lost: no command replaces a file it did not create in this invocation without --force, a
finished run resumes only to say so, starting over never cuts recorded epochs, and files archgen reads back hold
any bytes. Each refusal leaves every byte as it was; each has a control showing the command would have written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from train_helpers import archgen_here, checkpoints, contents, one_error_line

from archgen.files import OutputExists, write_atomic

PRECIOUS = b"# my own spec, not archgen's\nname = 'mine'\n"


# --- --out files: replaced only with --force -----------------------------------------------------


def _build_export(out: Path, *force: str) -> list[str]:
    return ["build", "digits-resnet20", "--export", "torchscript", "--out", str(out), *force]


def _compare(run: Path, plot: Path, *force: str) -> list[str]:
    return ["compare", str(run), "--plot", str(plot), *force]


def _new(out: Path, *force: str) -> list[str]:
    return ["new", "--family", "cifar", "--depth", "20", "--out", str(out), *force]


COMMANDS = {"build --export": _build_export, "compare --plot": _compare, "new --out": _new}


def _args(command: str, finished: Path, out: Path, *force: str) -> list[str]:
    make = COMMANDS[command]
    return make(finished, out, *force) if command == "compare --plot" else make(out, *force)  # type: ignore[operator]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_existing_output_file_is_refused_and_left_whole(command: str, finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "spec.toml"  # the user's own file, given as the output by mistake
    out.write_bytes(PRECIOUS)
    outcome = archgen_here(*_args(command, finished, out))
    assert outcome.code == 1
    assert one_error_line(outcome) == f"error: {out} exists; pass --force to replace it"
    assert out.read_bytes() == PRECIOUS
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spec.toml"]  # no temporary files left


@pytest.mark.parametrize("command", COMMANDS)
def test_control_with_force_the_file_is_replaced(command: str, finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "spec.toml"
    out.write_bytes(PRECIOUS)
    assert archgen_here(*_args(command, finished, out, "--force")).code == 0
    assert out.read_bytes() != PRECIOUS


@pytest.mark.parametrize("kind", ["file", "dangling link", "folder"])
def test_write_atomic_without_replace_never_takes_an_existing_name(tmp_path: Path, kind: str) -> None:
    """The check and the write are one step (a hard link): whatever holds the name, nothing is replaced."""
    path = tmp_path / "out.png"
    if kind == "file":
        path.write_bytes(PRECIOUS)
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.mkdir()
    with pytest.raises(OutputExists, match="exists; pass --force to replace it"):
        write_atomic(path, b"new", replace=False)
    assert not (tmp_path / "elsewhere").exists()
    if kind == "file":
        assert path.read_bytes() == PRECIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary file left


def test_control_write_atomic_takes_a_free_name(tmp_path: Path) -> None:
    write_atomic(tmp_path / "out.png", b"new", replace=False)
    assert (tmp_path / "out.png").read_bytes() == b"new"


# --- finished runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cleanup", ["nothing", "checkpoints", "checkpoints and summary"])
def test_a_finished_run_resumes_only_to_say_it_is_finished(finished: Path, tmp_path: Path, cleanup: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    if cleanup != "nothing":
        shutil.rmtree(run / "checkpoints")
    if cleanup == "checkpoints and summary":
        (run / "summary.json").unlink()
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 0 and outcome.stderr == ""  # nothing to do is no error
    assert outcome.stdout.startswith(f"{run} is finished (3 epochs, weights.safetensors written): there is nothing")
    assert contents(run) == before


def test_starting_over_never_cuts_recorded_epochs(finished: Path, tmp_path: Path) -> None:
    """A run stopped mid-way whose checkpoints were cleaned up: its metrics.jsonl keeps its epochs."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    shutil.rmtree(run / "checkpoints")
    (run / "weights.safetensors").unlink()
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1
    assert "has no checkpoint left but metrics.jsonl records 3 epochs" in one_error_line(outcome)
    assert contents(run) == before


def test_control_a_run_stopped_before_its_first_checkpoint_starts_over(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(finished / "spec.toml", run / "spec.toml")
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 0, outcome.stderr
    assert "starting from the beginning" in outcome.stdout
    assert checkpoints(run) and (run / "weights.safetensors").is_file()


# --- metrics.jsonl holds any bytes --------------------------------------------------------------


@pytest.mark.parametrize(("line", "why"), [
    (b'{"epoch": 1, "note": "\xc3\x28"}', "'utf-8' codec can't decode"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'{"epoch": "one"}', "missing train_loss"),
    (b'{"epoch": 1, "train_loss": "x", "train_error": 0, "val_loss": 0, "val_error": 0, "lr": 0, '
     b'"images_per_second": 0, "seconds": 0}', "train_loss is not a number"),
    (b"\x1b[2J\x00", "Expecting value"),
])
def test_a_damaged_metrics_line_is_located(finished: Path, tmp_path: Path, line: bytes, why: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    lines = (run / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    (run / "metrics.jsonl").write_bytes(lines[0] + line + b"\n" + b"".join(lines[1:]))
    outcome = archgen_here("compare", str(run), "--plot", str(tmp_path / "plot.png"))
    assert outcome.code == 1
    error = one_error_line(outcome)
    assert error.startswith(f"error: {run / 'metrics.jsonl'}:2: not an epoch record (") and why in error
    assert error.isprintable()


def test_control_a_torn_last_line_is_a_crash_and_ignored(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with open(run / "metrics.jsonl", "ab") as file:
        file.write(b'{"epoch": 4, "train_lo')
    outcome = archgen_here("compare", str(run), "--plot", str(tmp_path / "plot.png"))
    assert outcome.code == 0, outcome.stderr
    assert (tmp_path / "plot.png").is_file()


def test_a_summary_of_any_bytes_is_one_line(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").write_bytes(b"\x80\x81 not json")
    outcome = archgen_here("compare", str(run), "--plot", str(tmp_path / "plot.png"))
    assert outcome.code == 1
    assert one_error_line(outcome).startswith(f"error: {run / 'summary.json'}: unreadable (")


def test_messages_never_carry_terminal_control(finished: Path, tmp_path: Path) -> None:
    """A run folder named with an escape sequence and a bidi override is shown escaped."""
    run = tmp_path / "run\x1b[31m\u202e"
    shutil.copytree(finished, run)
    shutil.rmtree(run / "checkpoints")
    (run / "weights.safetensors").unlink()
    assert os.path.isdir(run)  # control: the name really holds the control characters
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1
    line = one_error_line(outcome)
    assert "\x1b" not in line and "\u202e" not in line and "run\\x1b[31m\\u202e" in line
