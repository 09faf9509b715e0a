"""Whether a training fits in its device's memory, known before its first step: the check right after the build, and
the largest power-of-two batch that fits (`--batch-size auto`).

The estimate is `archgen.analysis.footprint`'s; the room is `archgen.memory.headroom()` on the CPU (and on MPS, which
shares the machine's memory) and `torch.cuda.mem_get_info`'s free memory on a CUDA GPU.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.distributed as dist

import archgen.memory as memory
from archgen.analysis.footprint import DeviceKind, Footprint, Precision, footprint, largest_batch
from archgen.data import ImageData
from archgen.data.loader import RESIDENT_BYTES
from archgen.memory import Headroom, InsufficientMemory, size
from archgen.spec.schema import NetSpec
from archgen.training.engine import Engine
from archgen.training.fitting import Fitted
from archgen.training.steps import Batches

AUTO_SHARE = 0.8
"""`--batch-size auto` takes a batch whose estimate is at most this share of the room. Measured peaks on CPU were
0.82 to 1.18 times the estimate (bench/memory_estimate.md: glibc's heap varies between runs), a GPU's caching
allocator keeps memory beyond its tensors (not in the estimate), and other processes may take memory meanwhile: a
fifth covers an estimate 25% short. The next power of two down is half the batch anyway."""


def check_memory(spec: NetSpec, engine: Engine, batches: Batches, *, captured: bool = False) -> None:
    """Refuse, in one line with the estimate, a training step on `batches` (this process's loader) that cannot fit in
    what the device has left once the network is built (its parameters are there already). captured: the step is one
    CUDA graph, whose pool keeps a step's memory beside the eager last batch's and the evaluation's."""
    batch_size = min(batches.batch_size, batches.samples)  # a batch larger than the data set is the data set
    estimate = _footprint(spec, engine.device, engine.precision == torch.bfloat16, batch_size, graphs=captured)
    needed = estimate.total - estimate.params
    per_process = " per process" if engine.world > 1 else ""
    what = f"training {spec.name} at batch {batch_size}{per_process} ({_parts(estimate)})"
    try:
        if engine.device.type == "cuda":
            _require_on_gpu(needed, what, engine.device)
        else:
            memory.require(needed, what)  # looked up on the module: tests and the memory probe replace it
    except InsufficientMemory as refused:
        room = device_room(engine.device).bytes + estimate.params
        fits = largest_batch(spec, int(room * AUTO_SHARE), precision=estimate.precision, device=estimate.device,
                             graphs=captured)
        advice = f"batch {fits} would fit (--batch-size auto picks it)" if fits else "not even batch 1 would fit"
        raise InsufficientMemory(f"{refused}; {advice}") from None


def with_largest_batch(fitted: Fitted, device: torch.device, *, world: int) -> Fitted:
    """`fitted` with the recipe's batch size the largest power of two per process whose estimate fits in AUTO_SHARE of
    the device's room (less the data the loaders will put on a GPU) and no larger than the training images; a note
    says what was chosen. Refused in one line, with batch 1's estimate, when not even one image fits."""
    spec, data = fitted.spec, fitted.data
    room = device_room(device)
    usable = int((room.bytes - _resident_bytes(data, device)) * AUTO_SHARE)
    precision, kind = _precision(spec, device)
    graphs = _graphs(spec, device, world)
    images = max(1, len(data.train) // world)
    per_process = largest_batch(spec, usable, precision=precision, device=kind, limit=min(images, 65536 // world),
                                graphs=graphs)
    per_process = _smallest_over_processes(per_process, device)
    if per_process == 0:
        one = footprint(spec, batch_size=1, precision=precision, device=kind, graphs=graphs)
        raise InsufficientMemory(f"training {spec.name} at batch 1 needs about {size(one.total)} ({_parts(one)}), more "
                                 f"than {AUTO_SHARE:.0%} of the {size(room.bytes)} free ({room.limit}): no batch fits")
    chosen = footprint(spec, batch_size=per_process, precision=precision, device=kind, graphs=graphs)
    recipe = spec.train.model_copy(update={"batch_size": per_process * world})
    larger = per_process * 2 > images and \
        footprint(spec, batch_size=per_process * 2, precision=precision, device=kind, graphs=graphs).total <= usable
    capped = f"; a larger one would fit, but there are {len(data.train):,} training images" if larger else ""
    note = (f"--batch-size auto: {per_process * world}{' over all processes' if world > 1 else ''}, the largest power "
            f"of two whose estimated memory ({size(chosen.total)}{' per process' if world > 1 else ''}) fits in "
            f"{AUTO_SHARE:.0%} of the {size(room.bytes)} free ({room.limit}){capped}")
    return dataclasses.replace(fitted, spec=spec.model_copy(update={"train": recipe}), notes=(*fitted.notes, note))


def _smallest_over_processes(batch_size: int, device: torch.device) -> int:
    """Under torchrun every process must train at the same batch: the smallest any of them can hold."""
    if not dist.is_initialized():
        return batch_size
    value = torch.tensor([batch_size], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return int(value.item())


def device_room(device: torch.device) -> Headroom:
    """Bytes training may still allocate on `device`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return Headroom(free, f"free on {device}")
    return memory.headroom()


def _require_on_gpu(needed: int, what: str, device: torch.device) -> None:
    room = device_room(device)
    if needed > room.bytes:
        raise InsufficientMemory(f"{what} needs about {size(needed)}, more than the {size(room.bytes)} {room.limit}")


def _footprint(spec: NetSpec, device: torch.device, bf16: bool, batch_size: int, *, graphs: bool) -> Footprint:
    kind: DeviceKind = "cuda" if device.type == "cuda" else "cpu"
    return footprint(spec, batch_size=batch_size, precision="bf16" if bf16 else "float32", device=kind,
                     graphs=graphs)


def _graphs(spec: NetSpec, device: torch.device, world: int) -> bool:
    """Whether the run may step as one CUDA graph (decided once its loaders exist; here the batch is chosen before
    them, so room is left for the graph's pool whenever the recipe may capture: one process on a CUDA GPU)."""
    return device.type == "cuda" and world == 1 and spec.train.cuda_graphs


def _precision(spec: NetSpec, device: torch.device) -> tuple[Precision, DeviceKind]:
    """What the engine will train in (`archgen.training.build_engine`): bf16 autocast on CUDA if the recipe asks."""
    if device.type == "cuda":
        return ("bf16" if spec.train.mixed_precision else "float32"), "cuda"
    return "float32", "cpu"


def _resident_bytes(data: object, device: torch.device) -> int:
    """The uint8 images the loaders will copy to a GPU (each split up to RESIDENT_BYTES; `archgen.data.loader`)."""
    if device.type == "cpu" or not isinstance(data, ImageData):
        return 0
    return sum(split.images.numel() for split in (data.train, data.val) if split.images.numel() <= RESIDENT_BYTES)


def _parts(estimate: Footprint) -> str:
    """The estimate in one line: what each part takes."""
    rest = estimate.batch + estimate.workspace + estimate.allocator + estimate.framework + estimate.graph_pool
    return (f"params {size(estimate.params)}, grads {size(estimate.grads)}, optimiser state "
            f"{size(estimate.optimizer_state)}, activations {size(estimate.activations)}, batch and overheads "
            f"{size(rest)}; {estimate.precision}")
