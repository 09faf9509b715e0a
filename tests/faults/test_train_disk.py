"""A read-only run folder and a full one (a real RLIMIT_FSIZE in the child, not /dev/full): one line naming the
path and the errno, a non-zero exit, no traceback, and the previous checkpoints exactly as they were.

Root ignores permission bits, and these tests may run as root (CI does): the child then drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its bounding set before exec, so a 0555 folder stops it as it
stops anyone (chattr +i works too, on ext4 as root only; dropping capabilities works on any filesystem).
"""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import pytest
from train_helpers import (
    EPOCHS,
    STEPS,
    archgen,
    archgen_here,
    checkpoints,
    contents,
    epochs_recorded,
    leftovers,
    limit_file_size,
    one_error_line,
    only_run,
    read_only,
    weights_sha,
    without_root_overrides,
    write_tiny,
)

from archgen.training import folder, load_latest

pytestmark = [pytest.mark.slow,  # every test resumes a run a subprocess trained and killed
              pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux permissions and capabilities")]


@pytest.fixture(scope="module")
def interrupted(finished: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(a run killed in epoch 2, with its epoch-1 checkpoint; the uninterrupted run's weights sha256: the session's
    `finished` run)."""
    folder = tmp_path_factory.mktemp("interrupted")
    spec = write_tiny(folder)
    killed = archgen("train", str(spec), "--out", str(folder / "runs"), faults=("--kill-at-update", str(STEPS + 5)))
    assert killed.returncode == -signal.SIGKILL
    return only_run(folder / "runs"), weights_sha(finished)


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    copy.chmod(0o755)  # the module's folders are private to their owner; a child without DAC override needs in
    tmp_path.chmod(0o755)
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("which", ["run", "checkpoints"])
def test_resume_into_a_read_only_run_folder_fails_before_training(
    interrupted: tuple[Path, str], tmp_path: Path, which: str
) -> None:
    run = copy_of(interrupted[0], tmp_path)
    before = contents(run)
    folders = (run, run / "checkpoints") if which == "run" else (run / "checkpoints",)
    with read_only(*folders):
        result = archgen("train", "--resume", str(run), preexec_fn=without_root_overrides)
    assert result.returncode == 1, result.stderr
    assert one_error_line(result) == f"error: cannot write to {folders[-1] if which != 'run' else run}: " \
                                     "Permission denied (errno 13, EACCES)"
    assert result.stdout == ""  # before training: no plan, no epoch
    assert contents(run) == before  # nothing lost, nothing half written
    assert load_latest(run / "checkpoints").path == run / "checkpoints" / f"step-{STEPS:09d}"


def test_too_little_free_space_fails_before_training(
    interrupted: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = copy_of(interrupted[0], tmp_path)
    before = contents(run)
    usage = shutil.disk_usage(run)
    monkeypatch.setattr(folder.shutil, "disk_usage", lambda path: usage._replace(free=50_000))
    result = archgen_here("train", "--resume", str(run))
    assert result.code == 1 and result.stdout == ""
    assert re.fullmatch(rf"error: cannot write checkpoints in {run}: 50,000 bytes free, a checkpoint needs about "
                        r"[\d,]+ \(No space left on device, errno 28, ENOSPC\)", one_error_line(result))
    assert contents(run) == before
    monkeypatch.undo()  # control: with the disk's real free space the same resume trains
    assert archgen_here("train", "--resume", str(run)).code == 0


@pytest.mark.slow
def test_resume_under_a_file_size_limit_fails_before_training(interrupted: tuple[Path, str], tmp_path: Path) -> None:
    run = copy_of(interrupted[0], tmp_path)
    before = contents(run)
    result = archgen("train", "--resume", str(run), preexec_fn=limit_file_size(20_000))
    assert result.returncode == 1, result.stderr
    line = one_error_line(result)
    assert line.startswith(f"error: cannot write checkpoints in {run}: the file-size limit (ulimit -f) is 20,000 bytes")
    assert line.endswith("(File too large, errno 27, EFBIG)") and result.stdout == ""  # before training
    assert contents(run) == before


@pytest.mark.slow
def test_a_full_disk_mid_run_keeps_the_previous_checkpoint_and_resumes_bitwise(
    interrupted: tuple[Path, str], tmp_path: Path
) -> None:
    """The limit falls to 20,000 bytes after the first checkpoint (a disk filling up): the second cannot be written."""
    spec = write_tiny(tmp_path)
    result = archgen("train", str(spec), "--out", str(tmp_path / "runs"), faults=("--after-save", "1:fsize=20000"))
    assert result.returncode == 1, result.stderr
    run = only_run(tmp_path / "runs")
    line = one_error_line(result)
    assert re.fullmatch(rf"error: cannot write {run}/checkpoints/\.step-0*{2 * STEPS}\.partial/weights\.safetensors: "
                        r"File too large \(errno 27, EFBIG\)", line), line  # control: the limit did bite, there
    assert checkpoints(run) == [f"step-{STEPS:09d}"] and leftovers(run) == []
    assert load_latest(run / "checkpoints").state is not None
    resumed = archgen_here("train", "--resume", str(run))  # space again: nothing was lost
    assert resumed.code == 0, resumed.stderr
    assert weights_sha(run) == interrupted[1] and epochs_recorded(run) == list(range(1, EPOCHS + 1))
