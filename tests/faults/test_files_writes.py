"""Writes never follow what another user planted in a shared run or study folder (`archgen.files`): a temporary file
is created exclusively under a name nobody can guess, so a link or FIFO at a name archgen would use is passed over,
never opened; every folder archgen makes inside a run or study folder (checkpoints/, a checkpoint's staging folder,
tensorboard/) is a real folder or the write is refused, never followed; the run's lock file is never opened through
a link, nor waited on as a FIFO.

Controls: a plain open through the same planted link does overwrite the victim, and a blocking open of the FIFO
would wait; the same writes succeed where nothing was planted.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from train_helpers import archgen_here, contents, one_error_line
from train_states import sample_state

import archgen.files
from archgen.errors import RunError
from archgen.files import ensure_folder, write_atomic
from archgen.training import RunFolder, load_latest, save_checkpoint
from archgen.training.tensorboard import TensorBoard

NAMES = [".out.bin.000000000001.tmp", ".out.bin.000000000002.tmp"]  # the first two temporary names, made guessable


@pytest.fixture
def guessable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The random part of temporary names counts 1, 2, 3, …: a planter who guessed right, every time."""
    counter = itertools.count(1)
    monkeypatch.setattr(archgen.files.secrets, "randbelow", lambda _: next(counter))


@pytest.fixture
def no_hang() -> Iterator[None]:
    def hung(*_: object) -> None:
        raise AssertionError("the write blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Another user's file, which a planted link points at."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_bytes(b"keep me")
    return path


# --- temporary files -----------------------------------------------------------------------------------------------


def test_a_link_planted_at_the_temporary_name_is_never_followed(tmp_path: Path, victim: Path, guessable: None) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / NAMES[0]).symlink_to(victim)
    write_atomic(folder / "out.bin", b"ours")
    assert victim.read_bytes() == b"keep me"
    assert (folder / "out.bin").read_bytes() == b"ours" and not (folder / "out.bin").is_symlink()
    assert (folder / NAMES[0]).is_symlink()  # not ours: left as it was
    with open(folder / NAMES[0], "wb") as naive:  # control: the old fixed-name open goes through the link
        naive.write(b"overwritten")
    assert victim.read_bytes() == b"overwritten"


def test_a_fifo_planted_at_the_temporary_name_is_passed_over(tmp_path: Path, guessable: None, no_hang: None) -> None:
    os.mkfifo(tmp_path / NAMES[0])
    write_atomic(tmp_path / "out.bin", b"ours")
    assert (tmp_path / "out.bin").read_bytes() == b"ours"
    with pytest.raises(OSError, match="No such device or address"):  # control: a blocking open would wait for a reader
        os.open(tmp_path / NAMES[0], os.O_WRONLY | os.O_NONBLOCK)


def test_when_every_temporary_name_is_taken_the_write_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archgen.files.secrets, "randbelow", lambda _: 1)
    (tmp_path / NAMES[0]).symlink_to(tmp_path / "anywhere")
    with pytest.raises(RunError) as refused:
        write_atomic(tmp_path / "out.bin", b"ours")
    assert str(refused.value) == f"cannot write {tmp_path / 'out.bin'}: 100 temporary names beside it were all taken " \
                                 "(errno 17, EEXIST)"
    assert not (tmp_path / "anywhere").exists() and not (tmp_path / "out.bin").exists()


def test_control_the_write_replaces_a_link_at_the_target_itself(tmp_path: Path, victim: Path) -> None:
    """A link at the target's own name is replaced by the rename (a rename never follows), not written through."""
    (tmp_path / "out.bin").symlink_to(victim)
    write_atomic(tmp_path / "out.bin", b"ours")
    assert victim.read_bytes() == b"keep me" and not (tmp_path / "out.bin").is_symlink()


# --- folders archgen makes in a run or study folder ----------------------------------------------------------------


@pytest.mark.parametrize("planted", ["link to a folder", "file", "fifo"])
def test_a_folder_name_held_by_anything_else_is_refused(tmp_path: Path, victim: Path, planted: str) -> None:
    folder = tmp_path / "tensorboard"
    if planted == "link to a folder":
        folder.symlink_to(victim.parent)
    elif planted == "file":
        folder.write_bytes(b"")
    else:
        os.mkfifo(folder)
    with pytest.raises(OSError, match="not a folder"):
        ensure_folder(folder)
    with pytest.raises(OSError, match="not a folder"):
        TensorBoard(folder)  # a search trial's events folder, and a run's
    assert sorted(os.listdir(victim.parent)) == ["precious.txt"]


def test_control_a_real_folder_is_used_as_it_is(tmp_path: Path) -> None:
    ensure_folder(tmp_path / "made")
    ensure_folder(tmp_path / "made")
    (tmp_path / "made" / "kept").write_bytes(b"")
    with TensorBoard(tmp_path / "made") as board:
        board.writer.flush()
    assert (tmp_path / "made" / "kept").exists() and any(tmp_path.glob("made/events.out.tfevents.*"))


def test_a_link_planted_as_a_checkpoints_staging_folder_is_removed_not_followed(tmp_path: Path, victim: Path) -> None:
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder, sample_state(4))
    (folder / ".step-000000008.partial").symlink_to(victim.parent)
    saved = save_checkpoint(folder, sample_state(8))
    assert sorted(os.listdir(victim.parent)) == ["precious.txt"] and victim.read_bytes() == b"keep me"
    assert load_latest(folder).path == saved  # control: the checkpoint was written, in a folder of its own


def test_a_link_planted_as_checkpoints_is_refused_before_a_checkpoint_is_written(
    tmp_path: Path, victim: Path
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.toml").write_text("name = 'x'\n")
    (run / "checkpoints").symlink_to(victim.parent)
    with pytest.raises(RunError, match=r"checkpoints: not a folder \(a link, file or FIFO holds its name\)"):
        RunFolder(run).save_checkpoint(sample_state(4))
    with pytest.raises(RunError, match=r"cannot write to .*checkpoints: not a folder"):
        RunFolder(run).check_writable()
    assert sorted(os.listdir(victim.parent)) == ["precious.txt"]


# --- the run's lock ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("planted", ["fifo", "link"])
def test_a_lock_file_planted_as_a_fifo_or_link_is_refused_without_waiting(
    tmp_path: Path, victim: Path, planted: str, no_hang: None
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if planted == "fifo":
        os.mkfifo(run / ".lock")
    else:
        (run / ".lock").symlink_to(victim.parent / "created-by-archgen")
    with pytest.raises(RunError, match=rf"^cannot write to {run}: "), RunFolder(run):
        pass
    assert sorted(os.listdir(victim.parent)) == ["precious.txt"]


def test_control_a_regular_lock_file_left_by_an_earlier_run_is_taken(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_bytes(b"")
    with RunFolder(tmp_path), pytest.raises(RunError, match="in use by another archgen"), RunFolder(tmp_path):
        pass


def test_a_resume_through_a_planted_tensorboard_link_is_one_line_before_training(
    finished: Path, tmp_path: Path, victim: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "weights.safetensors").unlink()
    shutil.rmtree(run / "tensorboard")
    (run / "tensorboard").symlink_to(victim.parent)
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1 and outcome.stdout == ""
    assert one_error_line(outcome) == f"error: cannot write to {run / 'tensorboard'}: not a folder (a link, file or " \
                                      "FIFO holds its name) (errno 20, ENOTDIR)"
    assert contents(run) == before and sorted(os.listdir(victim.parent)) == ["precious.txt"]
