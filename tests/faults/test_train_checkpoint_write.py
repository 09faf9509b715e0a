"""A kill during a checkpoint write: the previous checkpoint stays intact and loads, and the run resumes from it
bitwise identically. train_wrapper makes the SIGKILL land inside archgen's own write (half a file written, a
complete temporary file not yet renamed, a staged folder not yet renamed); the leftovers prove it landed there."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from train_helpers import (
    EPOCHS,
    STEPS,
    archgen,
    archgen_here,
    checkpoints,
    epochs_recorded,
    leftovers,
    only_run,
    weights_sha,
    write_tiny,
)

from archgen.training import load_latest

FIRST, SECOND = f"step-{STEPS:09d}", f"step-{2 * STEPS:09d}"


@pytest.fixture(scope="module")
def reference(finished: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the tiny spec, the uninterrupted run's weights sha256: the session's `finished` run)."""
    return write_tiny(tmp_path_factory.mktemp("reference")), weights_sha(finished)


@pytest.mark.slow
@pytest.mark.parametrize(("where", "leftover"), [
    pytest.param("2:weights.safetensors:half", rf"checkpoints/\.{SECOND}\.partial/\.weights\.safetensors\.\d+\.tmp",
                 id="half-of-weights"),
    pytest.param("2:state.pt:half", rf"checkpoints/\.{SECOND}\.partial/\.state\.pt\.\d+\.tmp", id="half-of-state"),
    pytest.param("2:manifest.json:replace", rf"checkpoints/\.{SECOND}\.partial/\.manifest\.json\.\d+\.tmp",
                 id="manifest-before-its-rename"),
    pytest.param("2:folder:rename", rf"checkpoints/\.{SECOND}\.partial", id="folder-before-its-rename"),
])
def test_kill_inside_a_checkpoint_write_keeps_the_previous_and_resumes_bitwise(
    reference: tuple[Path, str], tmp_path: Path, where: str, leftover: str
) -> None:
    spec, expected = reference
    killed = archgen("train", str(spec), "--out", str(tmp_path), faults=("--kill-in-write", where))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = only_run(tmp_path)
    # control: the kill landed inside the second checkpoint's write, which left its half-made files behind
    assert any(re.fullmatch(leftover, item) for item in leftovers(run)), leftovers(run)
    if where.endswith("half"):
        name = where.split(":")[1]
        (temporary,) = run.glob(f"checkpoints/.{SECOND}.partial/.{name}.*.tmp")
        assert temporary.stat().st_size > 0  # half of the file, synced to disk
    assert checkpoints(run) == [FIRST]
    loaded = load_latest(run / "checkpoints")
    assert loaded.state is not None and loaded.path is not None and loaded.path.name == FIRST and not loaded.skipped
    assert (loaded.state.epoch, loaded.state.step, loaded.state.updates) == (1, 0, STEPS)

    resumed = archgen_here("train", "--resume", str(run))
    assert resumed.code == 0, resumed.stderr
    assert "resuming after epoch 1\n" in resumed.stdout and "skipped" not in resumed.stdout
    assert weights_sha(run) == expected and epochs_recorded(run) == list(range(1, EPOCHS + 1))
    assert not [item for item in leftovers(run) if ".partial" in item]  # the next save cleared the staging folder
