"""Truncated and bit-flipped checkpoints: every file of a checkpoint (weights, state, manifest, spec copy), damaged
by truncation to 0 bytes, to half, one bit flipped at seeded random offsets, or replaced by a link to /dev/zero
or a FIFO, is detected; the previous good
checkpoint loads instead, and when none is good the resume stops with one clear line and touches nothing.

Control for each case: before the damage, the newest checkpoint is the one that loads.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from train_helpers import (
    EPOCHS,
    archgen_here,
    checkpoints,
    contents,
    epochs_recorded,
    flip_one_bit,
    one_error_line,
    truncate_to_half,
    truncate_to_zero,
    weights_sha,
)
from train_states import sample_state

from archgen.training import SPEC, load_latest, save_checkpoint
from archgen.training.checkpoints import MANIFEST, STATE, WEIGHTS

Damage = Callable[[Path, int], None]


def link_to_dev_zero(path: Path, seed: int) -> None:
    """A planted link to an endless device: reading it would never end, so it must not be read at all."""
    path.unlink()
    path.symlink_to("/dev/zero")


def fifo(path: Path, seed: int) -> None:
    """A named pipe in the file's place: opening it to read would wait for a writer for ever."""
    path.unlink()
    os.mkfifo(path)


DAMAGES = [
    pytest.param(truncate_to_zero, 0, id="truncated-to-0"),
    pytest.param(truncate_to_half, 0, id="truncated-to-half"),
    *(pytest.param(flip_one_bit, seed, id=f"bit-flip-seed{seed}") for seed in range(4)),
    pytest.param(link_to_dev_zero, 0, id="link-to-dev-zero"),
    pytest.param(fifo, 0, id="fifo"),
]
FILES = [WEIGHTS, STATE, MANIFEST, SPEC]
SPEC_TEXT = b'name = "tiny"\n'


def two_checkpoints(folder: Path) -> tuple[Path, Path]:
    previous = save_checkpoint(folder, sample_state(5), extra={SPEC: SPEC_TEXT})
    newest = save_checkpoint(folder, sample_state(9), extra={SPEC: SPEC_TEXT})
    return previous, newest


@pytest.mark.parametrize(("damage", "seed"), DAMAGES)
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(
    tmp_path: Path, name: str, damage: Damage, seed: int
) -> None:
    previous, newest = two_checkpoints(tmp_path)
    assert load_latest(tmp_path).path == newest  # control: undamaged, the newest one loads
    kept = contents(previous)
    damage(newest / name, seed)
    loaded = load_latest(tmp_path)
    assert loaded.path == previous and loaded.state is not None and loaded.state.updates == 5
    assert len(loaded.skipped) == 1 and loaded.skipped[0].startswith(f"{newest}: ")
    assert "\n" not in loaded.skipped[0]
    assert contents(previous) == kept
    assert torch.equal(loaded.state.weights["layer.weight"], sample_state(5).weights["layer.weight"])


@pytest.mark.slow
def test_every_single_bit_flip_of_a_manifest_is_detected(tmp_path: Path) -> None:
    """The manifest is not hashed itself: its shape and its epoch/step/updates (checked against the state) are."""
    previous, newest = two_checkpoints(tmp_path)
    original = (newest / MANIFEST).read_bytes()
    for bit in range(len(original) * 8):
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        (newest / MANIFEST).write_bytes(bytes(flipped))
        assert load_latest(tmp_path).path == previous, f"flipping bit {bit} went unnoticed: {bytes(flipped)!r}"
    (newest / MANIFEST).write_bytes(original)
    assert load_latest(tmp_path).path == newest  # control


@pytest.mark.parametrize("name", FILES)
def test_when_no_checkpoint_is_good_nothing_loads(tmp_path: Path, name: str) -> None:
    previous, newest = two_checkpoints(tmp_path)
    for checkpoint in (previous, newest):
        truncate_to_half(checkpoint / name, 0)
    loaded = load_latest(tmp_path)
    assert loaded.state is None and [problem.split(": ")[0] for problem in loaded.skipped] == [str(newest),
                                                                                               str(previous)]


# --- as a user meets it: archgen train --resume ----------------------------------------------------


@pytest.mark.parametrize("name", [WEIGHTS, STATE, MANIFEST])
def test_resume_skips_a_damaged_newest_checkpoint_and_retrains_bitwise(
    finished: Path, tmp_path: Path, name: str
) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    expected = weights_sha(run)
    (run / "weights.safetensors").unlink()
    newest = run / "checkpoints" / checkpoints(run)[-1]
    flip_one_bit(newest / name, 7)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 0, resumed.stderr
    assert f"note: skipped damaged checkpoint {newest}: " in resumed.stdout
    assert f"resuming after epoch {EPOCHS - 1}\n" in resumed.stdout
    assert weights_sha(run) == expected and epochs_recorded(run) == list(range(1, EPOCHS + 1))


def test_resume_with_no_good_checkpoint_is_one_line_and_touches_nothing(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "weights.safetensors").unlink()  # unfinished: a finished run resumes only to say so
    for name in checkpoints(run):
        truncate_to_zero(run / "checkpoints" / name / STATE, 0)
    before = contents(run)
    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 1
    line = one_error_line(resumed)
    assert line.startswith(f"error: no good checkpoint to resume {run} from: ")
    for name in checkpoints(run):
        assert f"{run / 'checkpoints' / name}: state.pt does not match its sha256 in manifest.json" in line
    assert "move the checkpoints folder away to train the run again from the start" in line
    assert contents(run) == before
