"""Training memory known before training: the estimate against a measured peak (a process of its own), the refusal
of a batch that cannot fit (under a real `ulimit -v`), and `--batch-size auto` choosing the largest power of two
that fits or refusing when not even one image does; each with its control."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny import tiny_spec

import archgen.memory as memory
from archgen import build_model, load_spec
from archgen.analysis import footprint
from archgen.data import load_data
from archgen.memory import Headroom, InsufficientMemory
from archgen.training import build_engine, fit_to_data, with_recipe
from archgen.training.batch_memory import AUTO_SHARE, check_memory, with_largest_batch

LIMIT = 6 * 2**30  # torch's CUDA build maps ~3.2 GB at import: a CLI under this limit has ~2.5 GB left
PROBE = Path(__file__).resolve().parents[1] / "faults" / "memory_probe.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
MiB = 2**20
DATA_64 = "synthetic:3x64x64,classes=10,train=512,val=64"


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def archgen_limited(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m archgen ARGS` under `ulimit -v` of LIMIT."""
    return subprocess.run([sys.executable, "-m", "archgen", *args], capture_output=True, text=True, timeout=600,
                          env=ENV, preexec_fn=_limited, cwd=cwd)


# --- the estimate against a measured peak ---------------------------------------------------------------------

SETUP = """
import torch
from archgen import build_model, load_spec
from archgen.analysis import footprint
from archgen.training import Meter, build_engine
from archgen.training.steps import EagerStep
spec = load_spec("resnet20")
images, labels = torch.randn(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))
"""
STEPS = """
engine = build_engine(build_model(spec), spec.train, device="cpu", steps_per_epoch=4)
meter = Meter(torch.device("cpu"))
for step in range(4):
    EagerStep(engine)((images, labels), meter, number=step + 1)
"""


@pytest.mark.slow
def test_the_estimate_is_near_the_measured_peak_of_training_steps() -> None:
    """Anonymous resident memory grown by the build and 4 training steps, in a fresh process (tests/faults'
    probe), against the estimate at the same batch; the 15% figure is bench/memory_estimate.md's."""
    batch = 128
    done = subprocess.run([sys.executable, str(PROBE), "0", SETUP.replace("BATCH", str(batch)), STEPS],
                          capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    grew = json.loads(done.stdout.splitlines()[-1])["grew"]
    estimate = footprint(load_spec("resnet20"), batch_size=batch).total
    assert 0.7 * grew <= estimate <= 1.4 * grew, (estimate, grew)
    # control: the bounds tell batches apart (the estimate at a quarter of the batch falls outside them)
    assert footprint(load_spec("resnet20"), batch_size=batch // 4).total < 0.7 * grew


# --- refused after the build: a batch that cannot fit ---------------------------------------------------------


class _Loader:
    """What `check_memory` reads of a loader."""

    def __init__(self, batch_size: int, samples: int) -> None:
        self.batch_size, self.samples = batch_size, samples


def test_a_batch_over_the_room_is_refused_with_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = with_recipe(tiny_spec(), batch_size=256)
    engine = build_engine(build_model(spec), spec.train, device="cpu", steps_per_epoch=1)
    estimate = footprint(spec, batch_size=256)
    room = estimate.total - estimate.params - 1  # the network is built: its parameters are not asked for again
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(room, "a test's room"))
    with pytest.raises(InsufficientMemory) as refused:
        check_memory(spec, engine, _Loader(256, 10_000))
    fits = max(b for b in (1, 2, 4, 8, 16, 32, 64, 128) if footprint(spec, batch_size=b).total
               <= AUTO_SHARE * (room + estimate.params))
    assert str(refused.value) == (
        f"training tiny at batch 256 (params {memory.size(estimate.params)}, grads {memory.size(estimate.grads)}, "
        f"optimiser state {memory.size(estimate.optimizer_state)}, activations {memory.size(estimate.activations)}, "
        f"batch and overheads "
        f"{memory.size(estimate.batch + estimate.workspace + estimate.allocator + estimate.framework)}; float32) "
        f"needs about {memory.size(room + 1)}, more than the {memory.size(room)} this process may still take "
        f"(a test's room); batch {fits} would fit (--batch-size auto picks it)")
    # controls: one byte more fits; a batch larger than the data set is the data set
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(room + 1, "a test's room"))
    check_memory(spec, engine, _Loader(256, 10_000))
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(room, "a test's room"))
    check_memory(spec, engine, _Loader(256, 200))


@pytest.mark.slow
def test_train_refuses_up_front_under_a_lowered_limit(tmp_path: Path) -> None:
    """Through the CLI under `ulimit -v` 6 GB: one line with the estimate, exit 1, no run folder."""
    done = archgen_limited("train", "resnet20", "--data", DATA_64, "--batch-size", "512", "--epochs", "1",
                           "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip()
    assert re.fullmatch(r"error: training resnet20 at batch 512 \(params .+, activations [\d.]+ GiB, .+; float32\) "
                        r"needs about [\d.]+ GiB, more than the [\d.]+ [GM]iB this process may still take "
                        r"\(ulimit -v \d+\); batch \d+ would fit \(--batch-size auto picks it\)", line), line
    assert not (tmp_path / "runs").exists()
    # control: the same images at batch 32 fit, and train (fewer of them: two steps)
    done = archgen_limited("train", "resnet20", "--data", "synthetic:3x64x64,classes=10,train=64,val=16",
                           "--batch-size", "32", "--epochs", "1",
                           "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())["status"] == "finished"


# --- --batch-size auto -------------------------------------------------------------------------------------------


def _fitted(data: str = DATA_64) -> Any:
    spec = with_recipe(load_spec("resnet20"), data=data)
    return fit_to_data(spec, load_data(spec.train.data, size=spec.input.size))


def test_auto_takes_the_largest_power_of_two_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted = _fitted()
    room = footprint(fitted.spec, batch_size=100).total / AUTO_SHARE
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(int(room), "a test's room"))
    chosen = with_largest_batch(fitted, torch.device("cpu"), world=1)
    batch = chosen.spec.train.batch_size
    assert batch == 64
    assert footprint(fitted.spec, batch_size=64).total <= AUTO_SHARE * room < footprint(fitted.spec,
                                                                                        batch_size=128).total
    assert chosen.notes[-1].startswith("--batch-size auto: 64, the largest power of two whose estimated memory (")
    # two processes: the same per process, twice over all
    assert with_largest_batch(fitted, torch.device("cpu"), world=2).spec.train.batch_size == 128
    # control: with all the room in the world, the 512 training images are the limit, and the note says so
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(2**50, "a test's room"))
    roomy = with_largest_batch(fitted, torch.device("cpu"), world=1)
    assert roomy.spec.train.batch_size == 512 and "but there are 512 training images" in roomy.notes[-1]


def test_auto_on_a_gpu_leaves_room_for_the_captured_graph_s_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a CUDA GPU the recipe's CUDA graph keeps a second step's memory: auto picks its batch with that counted."""
    import archgen.training.batch_memory as batch_memory

    gpu = torch.device("cuda", 0)
    fitted = _fitted()
    held = batch_memory._resident_bytes(fitted.data, gpu)  # the images the loaders put on the GPU
    graphed = footprint(fitted.spec, batch_size=100, precision="bf16", device="cuda", graphs=True).total
    monkeypatch.setattr(batch_memory, "device_room", lambda device: Headroom(int(graphed / AUTO_SHARE) + held, "free"))
    assert with_largest_batch(fitted, gpu, world=1).spec.train.batch_size == 64
    # control: the same room without graphs (the recipe turns them off) holds twice the batch
    eager = fitted.spec.model_copy(update={"train": fitted.spec.train.model_copy(update={"cuda_graphs": False})})
    assert footprint(eager, batch_size=128, precision="bf16", device="cuda").total <= graphed
    fitted_eager = type(fitted)(eager, fitted.data, fitted.notes)
    assert with_largest_batch(fitted_eager, gpu, world=1).spec.train.batch_size == 128


def test_auto_refuses_when_not_even_one_image_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted = _fitted()
    one = footprint(fitted.spec, batch_size=1).total
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(int(one / AUTO_SHARE) - 1, "a test's room"))
    with pytest.raises(InsufficientMemory, match=rf"^training resnet20 at batch 1 needs about {memory.size(one)} "
                                                 r"\(params .+\), more than 80% of the .+ free \(a test's room\): "
                                                 r"no batch fits$"):
        with_largest_batch(fitted, torch.device("cpu"), world=1)
    # control: a byte more and batch 1 is taken
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(int(one / AUTO_SHARE) + 1, "a test's room"))
    assert with_largest_batch(fitted, torch.device("cpu"), world=1).spec.train.batch_size == 1


@pytest.mark.slow
def test_train_auto_under_a_lowered_limit(tmp_path: Path) -> None:
    """Through the CLI under `ulimit -v` 6 GB: a power of two that the room decides, recorded in the run's spec;
    and a network that cannot train even one image there is refused with its estimate (exit 1)."""
    data = "synthetic:3x128x128,classes=10,train=128,val=8"  # a batch of 128 would not fit: memory decides
    done = archgen_limited("train", "resnet20", "--data", data, "--batch-size", "auto", "--epochs", "1",
                           "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = re.search(r"--batch-size auto: (\d+), the largest power of two whose estimated memory \(.+\) fits in 80% "
                      r"of the ([\d.]+) ([GM])iB free \(ulimit -v \d+\)", done.stdout.replace("\n", " "))
    assert found, done.stdout
    batch, room = int(found[1]), float(found[2]) * (2**30 if found[3] == "G" else 2**20)
    assert batch & (batch - 1) == 0 and batch < 128  # a power of two, decided by memory, not the 128 images
    spec = load_spec(next((tmp_path / "runs").glob("*/spec.toml")))
    assert spec.train.batch_size == batch
    slack = 0.05 * 2**30  # the room is printed to a tenth of a GiB
    assert footprint(spec, batch_size=batch).total <= AUTO_SHARE * (room + slack)
    assert footprint(spec, batch_size=2 * batch).total > AUTO_SHARE * (room - slack)
    # refused: ResNet-152 at 1024x1024 needs more than the whole room for one image (trained at the data's size: the
    # shipped ImageNet recipe's 224 crops of images scaled to 256-480 would resize the data to 224 first)
    (tmp_path / "big.toml").write_text('extends = "resnet152"\nname = "resnet152"\n\n[train]\naugment = "cifar"\n'
                                       'lighting = 0.0\neval_resize = 1024\n')
    done = archgen_limited("train", "big.toml", "--data", "synthetic:3x1024x1024,classes=10,train=2,val=2",
                           "--batch-size", "auto", "--out", str(tmp_path / "big"), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.fullmatch(r"error: training resnet152 at batch 1 needs about [\d.]+ GiB \(params .+\), more than 80% of "
                        r"the [\d.]+ GiB free \(ulimit -v \d+\): no batch fits", done.stderr.strip()), done.stderr
    assert not (tmp_path / "big").exists()


def _choose(rank: int, store: str, rooms: tuple[int, int], out: str) -> None:
    """One of two gloo processes: its own room, then the batch both agree on."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    memory.headroom = lambda: Headroom(rooms[rank], "a test's room")  # type: ignore[assignment]
    chosen = with_largest_batch(_fitted(), torch.device("cpu"), world=2).spec.train.batch_size
    Path(f"{out}.{rank}").write_text(str(chosen))
    dist.destroy_process_group()


@pytest.mark.slow
def test_processes_agree_on_the_smallest_choice(tmp_path: Path) -> None:
    """Under torchrun each process reads its own room; all must train at one batch: the one the tightest holds
    (alone, rank 0's room gives 64 per process: test_auto_takes_the_largest_power_of_two_that_fits)."""
    fitted = _fitted()
    rooms = (int(footprint(fitted.spec, batch_size=100).total / AUTO_SHARE),  # 64 per process fits here
             int(footprint(fitted.spec, batch_size=20).total / AUTO_SHARE))  # 16 here
    torch.multiprocessing.start_processes(_choose, args=(str(tmp_path / "store"), rooms, str(tmp_path / "chosen")),
                                          nprocs=2, start_method="spawn")
    assert [int((tmp_path / f"chosen.{rank}").read_text()) for rank in (0, 1)] == [32, 32]  # 16 each, both
