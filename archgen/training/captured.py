"""The whole training step as one CUDA graph: batch augmentation, forward, loss, backward, optimiser step and the
loss meter, captured once and replayed with static inputs, so a small net runs at the GPU's pace, not the host's.

After PyTorch's "whole network capture" recipe (torch.cuda.graphs docs; Nguyen et al., "Accelerating PyTorch with
CUDA Graphs", 2021): a few real steps run eagerly on a side stream first (cuDNN and the optimiser's state settle),
then the step is captured; each later full batch copies its indices, crop offsets and flips into the static
buffers and replays. The learning rate lives in a device tensor the fused optimiser reads, refilled from the
schedule before every replay; a short last batch runs eagerly. An operation that cannot be captured is told once
(`on_note`) and every later step runs eagerly: the run goes on. On CPU the same static-buffer step runs without
capture (what the tests compare, bitwise, with the eager step). `make_step` chooses, once per run, which step a run
takes. Knows nothing of specs or run folders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import torch
from torch import Tensor

from archgen.errors import first_line
from archgen.training.engine import Engine
from archgen.training.meter import Meter
from archgen.training.optim import FUSABLE
from archgen.training.steps import Batch, EagerStep, Step

WARMUP_STEPS = 3  # eager steps before capture (the recipe's warm-up; each is a real step of the run)
Materialize = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
Note = Callable[[str], None]


class PlannedBatch(Batch, Protocol):
    """A batch described by what makes it: sample indices, crop offsets and flips, all on the device."""

    index: Tensor
    offsets: Tensor
    flips: Tensor


class Capturable(Protocol):
    """A loader whose batches are made on the training device from their description (`archgen.data`'s in-memory
    loader when its images live on the GPU)."""

    batch_size: int

    @property
    def capturable(self) -> bool: ...

    def materialize(self, index: Tensor, offsets: Tensor, flips: Tensor) -> tuple[Tensor, Tensor]: ...


def make_step(engine: Engine, loader: Capturable, *, graphs: bool, on_note: Note) -> Step:
    """The step a run takes, chosen once: one CUDA graph when `graphs` (the recipe asks and `graph_obstacle` found
    nothing in the way), else eager."""
    if not graphs:
        return EagerStep(engine)
    return CapturedStep(engine, loader.materialize, loader.batch_size, capture=True, on_note=on_note)


class CapturedStep:
    """One training step on static buffers; captured as a CUDA graph (`capture`), else run eagerly on them."""

    def __init__(self, engine: Engine, materialize: Materialize, batch_size: int, *, capture: bool,
                 on_note: Note | None = None) -> None:
        device = engine.device
        self.engine, self.materialize, self.batch_size, self.capture = engine, materialize, batch_size, capture
        self.on_note = on_note
        self.eager = EagerStep(engine)
        self.index = torch.zeros(batch_size, dtype=torch.int64, device=device)
        self.offsets = torch.zeros(batch_size, 2, dtype=torch.int64, device=device)
        self.flips = torch.zeros(batch_size, dtype=torch.bool, device=device)
        # the learning rate the captured fused optimiser reads (float32: what its kernels take)
        self.lrs = [torch.zeros((), dtype=torch.float32, device=device) for _ in engine.optimizer.param_groups]
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0
        self.fallback: str | None = None
        """Why capture failed, once it has: every later step then runs eagerly (never a crash mid-run)."""

    @property
    def captured(self) -> bool:
        return self.capture  # False once capture has failed (or on CPU, where it never captures)

    def __call__(self, batch: Batch, meter: Meter, *, number: int) -> None:
        """Full batches described by indices go through the static buffers; a short last batch, and every batch once
        capture has failed, step eagerly (keeping the graph's gradient tensors while there is a graph)."""
        index = getattr(batch, "index", None)
        if self.fallback is not None or index is None or len(index) != self.batch_size:
            self.eager(batch, meter, number=number, set_to_none=self.graph is None)
            return
        self._replay(cast(PlannedBatch, batch), meter)

    def _replay(self, batch: PlannedBatch, meter: Meter) -> None:
        """The batch's description copied into the static buffers, then the graph (captured on first need)."""
        self.index.copy_(batch.index, non_blocking=True)  # device to device: the host does not wait
        self.offsets.copy_(batch.offsets, non_blocking=True)
        self.flips.copy_(batch.flips, non_blocking=True)
        for tensor, group in zip(self.lrs, self.engine.optimizer.param_groups, strict=True):
            tensor.fill_(float(group["lr"]))  # the schedule's value for this update
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture:
            self._eager(meter)
        elif self.warm < WARMUP_STEPS:
            self._warm_up(meter)
        else:
            self.graph = self._captured(meter)
            if self.graph is not None:
                self.graph.replay()  # capture records without running: this step runs now
            else:
                self._eager(meter)
        meter.count(self.batch_size)

    def _forward_backward_update(self, meter: Meter) -> None:
        """The step on the static buffers; its tensors' addresses are what a captured graph replays."""
        engine = self.engine
        images, labels = self.materialize(self.index, self.offsets, self.flips)
        with engine.autocast(cache=self.graph is None and not self.capture):
            logits = engine.model(engine.as_input(images))  # (B, classes)
            loss = engine.criterion(logits, labels)
        loss.backward()
        engine.optimizer.step()
        meter.accumulate(loss, (logits.argmax(1) != labels).sum(), self.batch_size)

    def _eager(self, meter: Meter) -> None:
        self.engine.optimizer.zero_grad(set_to_none=True)
        self._forward_backward_update(meter)

    def _warm_up(self, meter: Meter) -> None:
        side = torch.cuda.Stream(self.engine.device)
        side.wait_stream(torch.cuda.current_stream(self.engine.device))
        with torch.cuda.stream(side):
            self._eager(meter)
        torch.cuda.current_stream(self.engine.device).wait_stream(side)
        self.warm += 1

    def _captured(self, meter: Meter) -> torch.cuda.CUDAGraph | None:
        """The step captured; None (told once through `on_note`) when an operation cannot be captured."""
        optimizer = self.engine.optimizer
        floats = [group["lr"] for group in optimizer.param_groups]
        optimizer.zero_grad(set_to_none=True)  # gradients are allocated in the graph's pool and rewritten each replay
        graph = torch.cuda.CUDAGraph()
        for group, tensor in zip(optimizer.param_groups, self.lrs, strict=True):
            group["lr"] = tensor  # captured by address: refilled before each replay
        try:
            with torch.cuda.graph(graph):
                self._forward_backward_update(meter)
        except torch.OutOfMemoryError:
            raise  # named with the batch size by the caller, as an eager step's would be
        except Exception as error:  # an op that cannot be captured (it syncs, allocates on the host, …)
            self.fallback, self.capture = f"{type(error).__name__}: {first_line(error)}", False
            torch.cuda.synchronize(self.engine.device)
            if self.on_note is not None:
                self.on_note(f"each step runs eagerly from now on: its CUDA graph could not be captured "
                             f"({self.fallback})")
            return None
        finally:
            for group, value in zip(optimizer.param_groups, floats, strict=True):
                group["lr"] = value  # state_dict and the schedule keep plain floats
        return graph


def graph_obstacle(device: torch.device, *, world: int, resident: bool, compiled: bool, optimizer: str) -> str | None:
    """Why a run cannot step as one CUDA graph (one line), or None when it can."""
    if device.type != "cuda":
        return "not on a CUDA GPU"
    if world > 1:
        return "several processes (DDP's gradient all-reduce is not captured here)"
    if compiled:
        return "torch.compile manages its own graphs (mode reduce-overhead)"
    if not resident:
        return "the data set does not fit on the GPU, so batches come from host memory"
    if optimizer not in FUSABLE:
        return f"{optimizer} has no fused CUDA kernel that takes the learning rate from the device"
    return None
