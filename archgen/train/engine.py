"""The training engine: a module on its device with its optimiser, schedule and loss, maybe compiled or DDP-wrapped.

Built from the recipe (`archgen.spec.schema.Train`) alone; knows nothing of the network's blocks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from timm.scheduler.scheduler import Scheduler
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from archgen.spec.schema import Train
from archgen.train.optim import build_optimizer, build_scheduler


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

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.precision)

    def prepare(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)  # NHWC: tensor cores' layout
        return images, labels.to(self.device, non_blocking=True)



def build_engine(
    module: nn.Module,
    recipe: Train,
    *,
    device: torch.device,
    steps_per_epoch: int,
    world: int = 1,
    rank: int = 0,
    compile: bool | None = None,
) -> Engine:
    """Move `module` to `device` and wrap it for training: bf16 autocast, channels_last on GPUs; DDP under torchrun."""
    gpu = device.type == "cuda"
    channels_last = recipe.channels_last and gpu
    module.to(device)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(module, recipe)
    model: nn.Module = module
    if world > 1:
        model = DistributedDataParallel(module, device_ids=[device.index] if gpu else None)
    if recipe.compile if compile is None else compile:
        model = torch.compile(model)  # type: ignore[assignment]
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
    )
