"""The training engine: a module on its device with its optimiser, schedule and loss, maybe compiled, DDP-wrapped or
stepping as one CUDA graph.

Built from the recipe (`archgen.spec.schema.Train`) alone; knows nothing of the network's blocks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from timm.scheduler.scheduler import Scheduler
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from archgen.devices import canonical
from archgen.spec.schema import CompileMode, Train
from archgen.training.optim import build_optimizer, build_scheduler

SHARED_BYTES = 256 * 2**20  # memory used on our GPU by other processes beyond this means it is shared


@dataclass
class Engine:
    """Everything a step touches. `model` runs the forward pass (maybe compiled or DDP-wrapped); `module` holds
    the weights."""

    model: nn.Module
    module: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler
    criterion: nn.Module
    device: torch.device
    precision: torch.dtype | None = None
    """bf16 autocast on GPUs, None for float32."""
    channels_last: bool = False
    world: int = 1
    rank: int = 0
    updates: int = 0
    """Optimiser steps taken since the start of the run."""
    frozen: tuple[nn.Module, ...] = ()
    """Parts that keep their weights and BN statistics (fine-tuning): no gradients, always in eval mode."""

    def train_mode(self) -> None:
        """The model in training mode, its frozen parts in eval mode (their BN statistics stay as they were)."""
        self.model.train()
        for part in self.frozen:
            part.eval()

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def as_input(self, images: Tensor) -> Tensor:
        """`images` (B, C, H, W) laid out in the model's memory format, strides included. A one-channel batch is
        "contiguous" in both formats, so `.contiguous()` keeps whatever strides it came with; torch's CPU convolutions
        then choose their kernel by those strides, and a channels-last one corrupted the heap for some widths (4 and 6
        on one-channel digits): every batch, on every data path, reaches the model here, with the canonical strides."""
        if images.stride() == _strides(images.shape, channels_last=self.channels_last):
            return images
        return images.clone(memory_format=self.memory_format)

    def autocast(self, *, cache: bool = True) -> contextlib.AbstractContextManager[object]:
        if self.precision is None:
            return contextlib.nullcontext()
        # a captured graph must not keep autocast's cast weights from capture time (torch.cuda.graphs docs)
        return torch.autocast(device_type=self.device.type, dtype=self.precision, cache_enabled=cache)

    def others_memory(self) -> str:
        """How much of this GPU other processes hold, when it is shared ("" on CPU or a GPU of our own)."""
        if self.device.type != "cuda":
            return ""
        free, total = torch.cuda.mem_get_info(self.device)
        others = total - free - torch.cuda.memory_reserved(self.device)
        return f"{others / 2**30:.1f} GiB" if others > SHARED_BYTES else ""


def _strides(shape: torch.Size, *, channels_last: bool) -> tuple[int, ...]:
    """The strides of a dense tensor of `shape`: row-major (NCHW), or NHWC for a (B, C, H, W) batch `channels_last`."""
    if channels_last and len(shape) == 4:
        _, channels, height, width = shape
        return height * width * channels, 1, width * channels, channels
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def build_engine(
    module: nn.Module,
    recipe: Train,
    *,
    device: torch.device | str,
    steps_per_epoch: int,
    world: int = 1,
    rank: int = 0,
    compile: bool | CompileMode | None = None,
    fused: bool = False,
    frozen: Sequence[nn.Module] = (),
    scaled: Sequence[nn.Module] = (),
) -> Engine:
    """Move `module` to `device` and wrap it for training: bf16 autocast, channels_last on GPUs; DDP under torchrun;
    torch.compile in the given mode (True: the default one). `fused`: the optimiser's fused CUDA kernels (a CUDA
    graph needs them: they take the learning rate as a device tensor). `frozen` parts are not trained; `scaled`
    ones learn at the recipe's `backbone_lr` x lr."""
    device = canonical(device)
    gpu = device.type == "cuda"
    channels_last = recipe.channels_last and gpu
    module.to(device)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    for part in frozen:
        part.requires_grad_(False)
    optimizer = build_optimizer(module, recipe, fused=fused, scaled=scaled)
    model: nn.Module = module
    if world > 1:
        model = DistributedDataParallel(module, device_ids=[device.index] if gpu else None)
    mode = compile_mode(recipe, compile)
    if mode is not None:
        model = torch.compile(model, mode=mode)  # type: ignore[assignment]
    return Engine(
        model=model,
        module=module,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, recipe, steps_per_epoch=steps_per_epoch),
        criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        device=device,
        precision=torch.bfloat16 if recipe.mixed_precision and gpu else None,
        channels_last=channels_last,
        world=world,
        rank=rank,
        frozen=tuple(frozen),
    )


def compile_mode(recipe: Train, override: bool | CompileMode | None) -> CompileMode | None:
    """The torch.compile mode a run uses (None: not compiled): `--compile/--no-compile` over the recipe's mode."""
    chosen: CompileMode = recipe.compile if override is None else override if not isinstance(override, bool) \
        else "default" if override else "off"
    return None if chosen == "off" else chosen
