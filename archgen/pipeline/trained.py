"""A trained network: the spec's module with a run's weights.safetensors loaded, checked to fit tensor by tensor."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load as load_safetensors
from torch import nn

from archgen.compile import build_model
from archgen.errors import RunError
from archgen.pipeline.edits import listed, weight_problems
from archgen.spec.schema import NetSpec


def load_trained(spec: NetSpec, weights: Path) -> nn.Module:
    """`spec` built and loaded with `weights` (safetensors: no code runs, whatever the file holds), in eval mode."""
    if not weights.is_file():
        raise RunError(f"{weights}: no such file (expected a run's weights.safetensors)")
    try:
        tensors = load_safetensors(weights.read_bytes())
    except Exception as error:  # safetensors parses a header and raw tensors: no code runs, whatever the bytes
        raise RunError(f"{weights}: not a safetensors file ({str(error).splitlines()[0]})") from None
    model = build_model(spec)
    problems = weight_problems(tensors, model)
    if problems:
        raise RunError(f"{weights} does not fit the network {spec.name!r} builds: {listed(problems)}")
    model.load_state_dict(tensors)
    return model.eval()
