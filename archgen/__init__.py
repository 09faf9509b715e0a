"""archgen: describe, analyse, train and search residual convolutional networks from TOML specs.

The public API. Torch-free names import instantly; `build_model` and `convert_state_dict`
load torch on first use, so `archgen validate` never pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from archgen.analysis import SPEC_CHECKS, Complexity, analyze
from archgen.errors import ArchgenError, DataError, Problem, RunError, SearchError, SpecError
from archgen.spec import NetSpec, parse_spec, read_spec

if TYPE_CHECKING:
    from torch import nn

__version__ = "0.1.0"

__all__ = [
    "ArchgenError",
    "Complexity",
    "DataError",
    "NetSpec",
    "Problem",
    "RunError",
    "SearchError",
    "SpecError",
    "analyze",
    "build_model",
    "convert_state_dict",
    "load_spec",
    "parse_spec",
]


def load_spec(path_or_name: str | Path) -> NetSpec:
    """Load and validate a spec file, or a shipped spec by name (`"resnet34"`), following `extends`.

    Checks the language's rules and archgen's size limits; raises SpecError listing every problem.
    """
    return read_spec(path_or_name, checks=SPEC_CHECKS)


def build_model(spec: NetSpec | str | Path, *, features_only: bool = False) -> nn.Module:
    """Compile a spec (or a spec file or shipped name) to a torch module; `features_only` returns stage outputs."""
    from archgen.compile import build_model as build

    if not isinstance(spec, NetSpec):
        spec = load_spec(spec)
    problems = [problem for check in SPEC_CHECKS for problem in check(spec)]
    if problems:
        raise SpecError([Problem(None, message, field=".".join(map(str, loc))) for loc, message in problems])
    return build(spec, features_only=features_only)


def convert_state_dict(state_dict: Any, *, source: str = "torchvision") -> dict[str, Any]:
    """torchvision's or timm's ResNet weights renamed for archgen's modules (load with strict=True)."""
    from archgen.compile import convert_state_dict as convert

    return convert(state_dict, source=source)  # type: ignore[arg-type]
