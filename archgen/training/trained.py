"""A trained network: the spec's module with a run's weights.safetensors loaded, checked to fit tensor by tensor."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from archgen.compile import build_model
from archgen.errors import RunError
from archgen.spec.schema import NetSpec
from archgen.training.checkpoints import read_weights
from archgen.training.resume import listed, weight_problems


def load_trained(spec: NetSpec, weights: Path) -> nn.Module:
    """`spec` built and loaded with `weights` (a run's weights.safetensors), in eval mode."""
    tensors = read_weights(weights)
    model = build_model(spec)
    problems = weight_problems(tensors, model)
    if problems:
        raise RunError(f"{weights} does not fit the network {spec.name!r} builds: {listed(problems)}")
    model.load_state_dict(tensors)
    return model.eval()
