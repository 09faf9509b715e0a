"""How much memory one spawned search worker holds, estimated from the search spec before any worker is spawned.

`--workers N` starts N processes that each import torch, read the data set and train one network at a time;
N that do not fit push the machine into swap or the OOM killer. An estimate, kept simple: a measured runtime
plus arithmetic on the spec (no torch is imported, nothing is read but a folder's file count).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from archgen.analysis import analyze, check_budget
from archgen.memory import require_processes, size
from archgen.search.config import SearchConfig
from archgen.search.proposal import try_point_spec
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import Choice, SearchSpace

MiB, GiB = 2**20, 2**30
RUNTIME = 1024 * MiB
"""Python with torch, optuna and the training pipeline imported, plus torch's thread pools and allocator once
a trial trains. Measured: a worker of `archgen search --workers 2 --device cpu` on the digits peaks at 0.94 GiB
resident (VmHWM; Linux x86-64, Python 3.11, torch 2.14 CUDA build), of which imports are 0.70 GiB; rounded up."""
MAPPED = 4 * GiB
"""Address space a worker maps (VmPeak 3.8 GiB, measured as above): the CUDA build of torch alone maps 3.2 GiB of
libraries at import. `ulimit -v` must allow this much to each process."""
STATE_COPIES = 4  # float32 weights, their gradients, SGD's momentum, and the update's temporaries
ACTIVATION_COPIES = 4  # per block output kept for backward: conv, batch-norm and ReLU outputs, and its gradient
IMAGE_COPIES = 2  # the images as read and as resized to the spec's size, both held while the data are prepared
IMAGES = {"digits": (1797, 1), "cifar10": (60_000, 3)}  # (images, channels): scikit-learn's; 50,000 + 10,000
SYNTHETIC = {"train": 1024, "val": 256}  # archgen.data.source.Synthetic's defaults
MAX_COUNTED = 10_000_000  # files counted in an image folder before the count stops (an estimate needs no more)


@dataclass(frozen=True)
class WorkerMemory:
    """Resident bytes one worker holds, by what holds them."""

    runtime: int
    data: int
    network: int
    activations: int

    @property
    def total(self) -> int:
        return self.runtime + self.data + self.network + self.activations

    def __str__(self) -> str:
        return (f"{size(self.runtime)} for Python and torch, {size(self.data)} of images, {size(self.network)} "
                f"of weights and optimiser state, {size(self.activations)} of activations")


def require_workers(config: SearchConfig) -> None:
    """Refuse `config.workers` processes that would not fit in this machine's memory, in one line with the estimate."""
    each = worker_memory(config.spec, device=config.device)
    what = f"--workers {config.workers} (each about {size(each.total)}: {each})"
    require_processes(config.workers, each.total, what, mapped=MAPPED + each.total - each.runtime)


def worker_memory(spec: NetSpec, *, device: str) -> WorkerMemory:
    """What a worker training the largest trainable network of `spec`'s space holds in host memory.

    The network and its activations count only when they live in host memory (CPU, or Apple's unified memory);
    on a CUDA device they take GPU memory, which the trainer's out-of-memory handling looks after.
    """
    return max((_estimate(candidate, device) for candidate in _candidates(spec)), key=lambda memory: memory.total)


def _estimate(spec: NetSpec, device: str) -> WorkerMemory:
    cost, on_host = analyze(spec), _on_host(device)
    images, channels = _images(spec.train.data)
    outputs = cost.stem.out_shape, *(block.out_shape for stage in cost.stages for block in stage.blocks)
    elements = sum(channels * height * width for channels, height, width in outputs)  # per image
    return WorkerMemory(
        runtime=RUNTIME,
        data=IMAGE_COPIES * images * channels * spec.input.size**2,  # uint8 pixels
        network=STATE_COPIES * 4 * cost.params if on_host else 0,
        activations=ACTIVATION_COPIES * 4 * elements * spec.train.batch_size if on_host else 0,
    )


def _candidates(spec: NetSpec) -> list[NetSpec]:
    """The base network, and the space's corner where every numeric parameter takes its largest value, if that
    corner is a valid spec within the budgets (an over-budget corner is never trained)."""
    assert spec.search is not None
    corner = try_point_spec(spec, _largest_point(spec.search), number=0, epochs=spec.search.epochs)
    if isinstance(corner, str) or not check_budget(spec.search, analyze(corner)).fits:
        return [spec]
    return [spec, corner]


def _largest_point(space: SearchSpace) -> dict[str, Choice]:
    point: dict[str, Choice] = {}
    for path, param in space.params.items():
        if param.choices is None:
            assert param.high is not None
            point[path] = param.high
            continue
        numbers = [c for c in param.choices if isinstance(c, int | float) and not isinstance(c, bool)]
        point[path] = max(numbers) if numbers else param.choices[0]
    return point


def _on_host(device: str) -> bool:
    if device == "auto":  # the trainer picks CUDA when there is a GPU; its device nodes say so without torch
        return not Path("/dev/nvidiactl").exists()
    return not device.startswith("cuda")


def _images(data: str) -> tuple[int, int]:
    """How many images `--data` holds and their channels (the data decide channels, the spec the size): known for
    digits and CIFAR-10, written in a synthetic source, counted in an image folder (taken as RGB); none for a
    source that archgen.data will refuse anyway."""
    kind, _, argument = data.strip().partition(":")
    if kind in IMAGES:
        return IMAGES[kind]
    if kind == "synthetic":
        counts = {**SYNTHETIC, **{key: int(value) for key, value in re.findall(r"\b(train|val)=(\d+)", argument)}}
        channels = re.match(r"(\d+)x\d+x\d+", argument)
        return counts["train"] + counts["val"], int(channels.group(1)) if channels else 3
    if kind == "imagefolder":
        return _count_files(Path(argument).expanduser()), 3
    return 0, 0


def _count_files(folder: Path) -> int:
    count = 0
    for _, _, files in os.walk(folder):
        count += len(files)
        if count >= MAX_COUNTED:
            break
    return count
