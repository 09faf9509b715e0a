"""Optimisers (torch, timm's LAMB) and per-step learning-rate schedules (timm) built from the recipe.

Schedules are functions of the update count, so resuming needs only that count (saved anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from timm.scheduler import CosineLRScheduler, MultiStepLRScheduler
from timm.scheduler.scheduler import Scheduler
from torch import nn

from archgen.spec.schema import Train


def build_optimizer(
    model: nn.Module, recipe: Train, *, fused: bool = False, scaled: Sequence[nn.Module] = ()
) -> torch.optim.Optimizer:
    """The recipe's optimiser over every trainable parameter; weight decay on all of them, as the paper.

    `scaled`: modules whose parameters learn at `recipe.backbone_lr` x lr (a second parameter group; the
    schedule scales both alike). `fused`: torch's fused CUDA kernels (SGD, AdamW), which take the learning rate
    as a device tensor and so can be captured in a CUDA graph; LAMB (timm's) has none.
    """
    params = _parameter_groups(model, recipe, scaled)
    options = {"fused": True} if fused else {}
    if recipe.optimizer in ("sgd", "nesterov"):
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
            nesterov=recipe.optimizer == "nesterov", **options,
        )
    betas = (recipe.momentum, 0.999)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, betas=betas, weight_decay=recipe.weight_decay,
                                 **({"fused": True, "capturable": True} if fused else {}))
    from timm.optim import Lamb

    return Lamb(params, lr=recipe.lr, betas=betas, weight_decay=recipe.weight_decay)


FUSABLE = ("sgd", "nesterov", "adamw")


def _parameter_groups(model: nn.Module, recipe: Train, scaled: Sequence[nn.Module]) -> list[dict[str, Any]]:
    """One group of every trainable parameter, or two when a part learns at a fraction of lr (frozen ones: none)."""
    slow = {id(p) for module in scaled for p in module.parameters()} if recipe.backbone_lr != 1.0 else set()
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": [p for p in trainable if id(p) not in slow]}]
    if slow:
        groups.insert(0, {"params": [p for p in trainable if id(p) in slow], "lr": recipe.lr * recipe.backbone_lr})
    return [group for group in groups if group["params"]]


def build_scheduler(optimizer: torch.optim.Optimizer, recipe: Train, *, steps_per_epoch: int) -> Scheduler:
    """A per-update schedule: call `step_update(updates_done)` before each optimiser step.

    multistep: lr x gamma from each milestone on (the paper: /10 at 32k and 48k of 64k iterations);
    cosine: cosine decay to zero after warm-up; constant. Warm-up rises linearly from warmup_lr.
    """
    total = recipe.epochs * steps_per_epoch
    warmup = min(recipe.warmup_epochs * steps_per_epoch, total)
    if recipe.schedule == "cosine":
        return CosineLRScheduler(
            optimizer, t_initial=max(1, total - warmup), lr_min=0.0, warmup_t=warmup, warmup_lr_init=recipe.warmup_lr,
            warmup_prefix=True, t_in_epochs=False,
        )
    # timm applies milestone m from update m - 1 on; +1 makes "from update m on", as torch's MultiStepLR.
    fractions = recipe.milestones if recipe.schedule == "multistep" else ()
    milestones = sorted(round(fraction * total) + 1 for fraction in fractions)
    return MultiStepLRScheduler(
        optimizer, decay_t=milestones, decay_rate=recipe.gamma, warmup_t=warmup, warmup_lr_init=recipe.warmup_lr,
        warmup_prefix=False, t_in_epochs=False,
    )
