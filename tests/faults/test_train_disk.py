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

from archgen.runs import load_latest

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux permissions and capabilities")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(a run killed in epoch 2, with its epoch-1 checkpoint; the uninterrupted run's weights sha256)."""
    folder = tmp_path_factory.mktemp("interrupted")
    spec = write_tiny(folder)
    assert archgen_here("train", str(spec), "--out", str(folder / "reference")).code == 0
    killed = archgen("train", str(spec), "--out", str(folder / "runs"), faults=("--kill-at-update", str(STEPS + 5)))
    assert killed.returncode == -signal.SIGKILL
    return only_run(folder / "runs"), weights_sha(only_run(folder / "reference"))


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    copy.chmod(0o755)  # the module's folders are private to their owner; a child without DAC override needs in
    tmp_path.chmod(0o755)
    return copy


@pytest.mark.slow
def test_resume_into_a_read_only_run_folder(interrupted: tuple[Path, str], tmp_path: Path) -> None:
    run = copy_of(interrupted[0], tmp_path)
    before = contents(run)
    with read_only(run, run / "checkpoints"):
        result = archgen("train", "--resume", str(run), preexec_fn=without_root_overrides)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result)
    assert re.fullmatch(rf"error: cannot write checkpoint {run}/checkpoints/step-\d+: Permission denied "
                        r"\(errno 13, EACCES\)", line), line
    assert contents(run) == before  # nothing lost, nothing half written
    assert load_latest(run / "checkpoints").path == run / "checkpoints" / f"step-{STEPS:09d}"


@pytest.mark.slow
def test_resume_under_a_file_size_limit_fails_before_training(interrupted: tuple[Path, str], tmp_path: Path) -> None:
    run = copy_of(interrupted[0], tmp_path)
    before = contents(run)
    result = archgen("train", "--resume", str(run), preexec_fn=limit_file_size(20_000))
    assert result.returncode == 1, result.stderr
    line = one_error_line(result)
    assert line.startswith(f"error: cannot write checkpoints in {run}: the file-size limit (ulimit -f) is 20,000 bytes")
    assert line.endswith("(File too large, errno 27, EFBIG)") and "epoch" not in result.stdout.split("run ")[-1]
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
