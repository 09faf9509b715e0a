"""Layer responses, as He et al. 2016's Fig. 7 measures them: the standard deviation of each 3x3 layer's output on
the validation images, taken after its BN and before the ReLU or the addition that follows.

The paper's argument: residual functions are closer to zero than plain layers' outputs, so the responses of a
ResNet's layers are smaller than a plain net's. Where no BN follows a 3x3 conv (pre-activation blocks, whose
BN comes before the conv), the conv's own output is its response, still before the addition. Which layers
count comes from the network's plan, never from module names guessed at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from archgen.data import load_data, make_loaders
from archgen.devices import select_device
from archgen.plan import Layer, plan
from archgen.spec.schema import NetSpec
from archgen.training.fitting import fit_to_data
from archgen.training.folder import RunFolder
from archgen.training.record import WEIGHTS
from archgen.training.trained import load_trained

BATCH = 256


@dataclass(frozen=True)
class Responses:
    """One run's layer responses, in the network's order."""

    run: Path
    name: str
    residual: bool
    layers: tuple[tuple[str, float], ...]
    """(module path whose output is the response, standard deviation over the validation images)."""


def measured_points(spec: NetSpec) -> list[str]:
    """The module paths whose outputs are the 3x3 layers' responses: the BN after each 3x3 conv of the stem and
    the blocks' branches (or the conv itself where no BN follows it), in the network's order."""
    layers = list(plan(spec).layers())
    points = []
    for index, (path, layer) in enumerate(layers):
        if not _three_by_three(path, layer):
            continue
        follower = layers[index + 1] if index + 1 < len(layers) else None
        after_bn = follower is not None and follower[1].kind == "bn" and _group(follower[0]) == _group(path)
        points.append(follower[0] if after_bn and follower is not None else path)
    return points


def layer_responses(run: Path, *, device: str = "auto") -> Responses:
    """The run's trained network on its validation split: the standard deviation of every 3x3 layer's response."""
    folder = RunFolder.open(run)
    spec = folder.spec()
    fitted = fit_to_data(spec, load_data(spec.train.data, size=spec.input.size, seed=spec.train.seed))
    where = select_device(device)
    loader = make_loaders(fitted.data, batch_size=BATCH, augment=False, seed=spec.train.seed, device=where).val
    model = load_trained(fitted.spec, run / WEIGHTS).to(where)
    points = measured_points(fitted.spec)
    moments = _moments(model, points, loader.batches(0), where)
    deviations = (moment.deviation for moment in moments)
    return Responses(run, spec.name, spec.body.residual, tuple(zip(points, deviations, strict=True)))


class _Moments:
    """A forward hook summing one module's output elements and their squares (float64, on the device)."""

    def __init__(self, device: torch.device) -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.squares = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0

    def __call__(self, module: nn.Module, inputs: object, output: Tensor) -> None:
        values = output.detach().double()
        self.total += values.sum()
        self.squares += values.square().sum()
        self.count += values.numel()

    @property
    def deviation(self) -> float:
        mean = self.total / self.count
        return float((self.squares / self.count - mean.square()).clamp_min(0).sqrt())


@torch.no_grad()
def _moments(model: nn.Module, points: list[str], batches: Iterator[Any], device: torch.device) -> list[_Moments]:
    """Every point's output moments over all batches."""
    moments = [_Moments(device) for _ in points]
    hooks = [model.get_submodule(point).register_forward_hook(moment)
             for point, moment in zip(points, moments, strict=True)]
    try:
        for images, _ in batches:
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    return moments


def _three_by_three(path: str, layer: Layer) -> bool:
    in_branch = path.startswith("stem.") or ".branch." in path
    return layer.kind == "conv" and layer.kernel == 3 and in_branch


def _group(path: str) -> str:
    """The part and group a layer belongs to ("stages.0.1.branch", "stem"): a BN in another group follows no conv."""
    return path.rpartition(".")[0]
