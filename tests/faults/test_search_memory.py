"""`--workers N` that would not fit in memory is refused before any worker is spawned, in one line with the
estimate: N workers against what the machine has left (shown with a machine of 2 GiB, through a fake
/proc/meminfo in a subprocess), and each worker against `ulimit -v`, which limits every process alone.

Controls: under the same `ulimit -v` without the check, the workers really die (torch cannot map its libraries);
the limit on N is arithmetic, not a blanket refusal (N that fit pass); and the per-worker estimate is close to
what a real worker training on the digits holds at its peak (within 10% below it, less than twice above).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from search_helpers import TINY, Ran, make_config, one_line_error

import archgen.memory
from archgen.analysis import footprint
from archgen.memory import GiB, InsufficientMemory
from archgen.search import resolve_spec
from archgen.search.space import largest_point, trial_spec
from archgen.search.workers import IMAGE_COPIES, MAPPED, RUNTIME, require_workers, worker_memory

ULIMIT_V = 2 * GiB  # the parent runs (it maps 0.3 GiB: no torch), a worker cannot import torch (3.2 GiB)
SEARCH = ["search", "space.toml", "--device", "cpu", "--trials", "1", "--out", "o"]

WRAPPED = """
import resource, sys
from pathlib import Path
import archgen.memory, archgen.search.workers
if {fake_meminfo!r}:
    archgen.memory.MEMINFO, archgen.memory.CGROUP = Path({fake_meminfo!r}), Path("/nonexistent")
if {unchecked}:
    archgen.search.workers.require_workers = lambda config: None
from archgen.cli import main
try:
    main({args!r})
finally:
    print("children's peak KiB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
"""


def archgen_wrapped(folder: Path, *args: str, limit: int | None = None, meminfo: str = "",
                    unchecked: bool = False) -> Ran:
    """`archgen ARGS` in a subprocess under `ulimit -v limit`, optionally on a machine whose /proc/meminfo is
    `meminfo`, optionally without the workers' memory check."""
    fake = ""
    if meminfo:
        (folder / "meminfo").write_text(meminfo)
        fake = str(folder / "meminfo")

    def lower() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = WRAPPED.format(fake_meminfo=fake, unchecked=unchecked, args=list(args))
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300,
                          preexec_fn=lower)
    return Ran(done.returncode, done.stdout, done.stderr)


def without_peak(ran: Ran) -> Ran:
    return Ran(ran.code, ran.out, "\n".join(line for line in ran.err.splitlines() if "peak KiB" not in line))


def peak(ran: Ran) -> int:
    return int(next(line for line in ran.err.splitlines() if "peak KiB" in line).split()[-1]) * 1024


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "space.toml").write_text(TINY)
    return tmp_path


# --- each worker against ulimit -v ------------------------------------------------------------------------


@pytest.mark.slow
def test_workers_that_could_not_map_torch_are_refused_before_any_is_spawned(folder: Path) -> None:
    ran = without_peak(archgen_wrapped(folder, *SEARCH, "--workers", "2", limit=ULIMIT_V))
    line = one_line_error(ran, naming="--workers 2 (each about")
    assert f"each process maps about {archgen.memory.size(MAPPED)}" in line
    assert f"more than ulimit -v {ULIMIT_V // 1024} allows one process" in line
    assert not (folder / "runs").exists()  # refused before the study was opened, let alone a worker spawned


@pytest.mark.slow
def test_control_without_the_check_the_workers_die_under_that_limit(folder: Path) -> None:
    ran = without_peak(archgen_wrapped(folder, *SEARCH, "--workers", "2", limit=ULIMIT_V, unchecked=True))
    line = one_line_error(ran, naming="stopped, so the search stopped")
    assert "archgen-worker-" in line and "Error" in line  # torch's libraries could not be mapped


# --- N workers against the machine's memory ----------------------------------------------------------------

TWO_GIB_LEFT = "MemTotal: 4194304 kB\nMemAvailable: 2097152 kB\n"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["4", "256"])
def test_more_workers_than_the_memory_left_are_refused(folder: Path, workers: str) -> None:
    ran = without_peak(archgen_wrapped(folder, *SEARCH, "--workers", workers, meminfo=TWO_GIB_LEFT))
    line = one_line_error(ran, naming=f"--workers {workers} (each about 1.0 GiB: 1.0 GiB for Python and torch")
    assert "more than the 2.0 GiB left (the machine's available memory); at most 1 would fit" in line
    assert not (folder / "runs").exists()


def test_control_workers_that_fit_pass_the_check(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "meminfo").write_text(TWO_GIB_LEFT.replace("2097152", str(3 * 2**20)))  # 3 GiB left
    monkeypatch.setattr(archgen.memory, "MEMINFO", folder / "meminfo")
    monkeypatch.setattr(archgen.memory, "CGROUP", folder / "no-cgroup")
    require_workers(make_config(folder, trials=1, workers=2))  # 2 x 1.0 GiB fit in 3 GiB
    with pytest.raises(InsufficientMemory, match="at most 2 would fit"):
        require_workers(make_config(folder, trials=1, workers=3))


# --- the estimate against a real worker ---------------------------------------------------------------------


@pytest.mark.parametrize(("data", "images", "channels"), [
    ("digits", 1797, 1),
    ("synthetic:3x8x8,train=100,val=20", 120, 3),
    ("imagefolder:{folder}/images", 5, 3),  # files counted, taken as RGB
    ("stream:{folder}/images", 0, 3),  # streamed: none held
    ("nonsense", 0, 0),  # refused by each worker in one line, not here
])
def test_a_workers_estimate_is_its_held_images_and_footprints_step(folder: Path, data: str, images: int,
                                                                   channels: int) -> None:
    """The images come from `archgen.data.held_images`, the network and a step's memory from
    `archgen.analysis.footprint` (of the space's largest corner, the larger network); on a GPU only the images
    stay in host memory."""
    (folder / "images" / "cat").mkdir(parents=True)
    for index in range(5):
        (folder / "images" / "cat" / f"{index}.png").write_bytes(b"")
    spec = resolve_spec(make_config(folder, trials=1).spec, data=data.format(folder=folder))
    corner = trial_spec(spec, largest_point(spec.search), number=0, seed=spec.train.seed)  # type: ignore[arg-type]
    step = footprint(corner, batch_size=corner.train.batch_size)
    memory = worker_memory(spec, device="cpu")
    assert memory.data == IMAGE_COPIES * images * channels * spec.input.size**2
    assert memory.network == step.params + step.grads + step.optimizer_state
    assert memory.total == RUNTIME + memory.data + step.total - step.framework  # the runtime holds the framework's
    on_gpu = worker_memory(spec, device="cuda")
    assert (on_gpu.data, on_gpu.network, on_gpu.activations) == (memory.data, 0, 0)


@pytest.mark.slow
def test_control_the_estimate_is_close_to_a_real_workers_peak(folder: Path) -> None:
    """Two workers train on the digits; the largest one's peak resident memory (getrusage of the children) is
    within 10% of the estimate or under it, and the estimate is less than twice that peak (measured: 0.95 GiB
    against 1.0 GiB)."""
    ran = archgen_wrapped(folder, "search", "space.toml", "--device", "cpu", "--trials", "2", "--workers", "2",
                          "--out", "o")
    assert ran.code == 0, ran.err
    config = make_config(folder, trials=2, workers=2)
    estimate = worker_memory(config.spec, device="cpu").total
    assert 0.9 * peak(ran) <= estimate < 2 * peak(ran), (peak(ran), estimate)
