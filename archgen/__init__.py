"""archgen: describe, analyse, train and search residual convolutional networks from TOML specs.

The public API. This front loads only the errors at once; the spec language (pydantic) loads on first use of a
name that needs it, torch on `build_model` or `convert_state_dict` (PEP 562), so `archgen --help` and a mistyped
command answer before either is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from archgen.errors import ArchgenError, DataError, Problem, RunError, SearchError, SpecError
from archgen.lazy import attributes

if TYPE_CHECKING:
    from torch import nn

    from archgen.analysis import Complexity, analyze
    from archgen.inference import TrainedNet
    from archgen.spec import NetSpec, parse_spec

__version__ = "0.1.0"

# name -> the module that defines it, imported on first use
_LAZY = {
    "Complexity": "archgen.analysis", "analyze": "archgen.analysis",
    "NetSpec": "archgen.spec", "parse_spec": "archgen.spec",
}

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
    "load",
    "load_spec",
    "parse_spec",
]


__getattr__ = attributes("archgen", _LAZY)


def load_spec(path_or_name: str | Path) -> NetSpec:
    """Load and validate a spec file, or a shipped spec by name (`"resnet34"`), following `extends`.

    Checks the language's rules and archgen's size limits; raises SpecError listing every problem.
    """
    from archgen.analysis import SPEC_CHECKS
    from archgen.spec import read_spec

    return read_spec(path_or_name, checks=SPEC_CHECKS)


def build_model(spec: NetSpec | str | Path, *, features_only: bool = False) -> nn.Module:
    """Compile a spec (or a spec file or shipped name) to a torch module; `features_only` returns stage outputs."""
    from archgen.analysis import SPEC_CHECKS
    from archgen.compile import build_model as build
    from archgen.spec import NetSpec

    if not isinstance(spec, NetSpec):
        spec = load_spec(spec)
    problems = [problem for check in SPEC_CHECKS for problem in check(spec)]
    if problems:
        raise SpecError([Problem(None, message, field=".".join(map(str, loc))) for loc, message in problems])
    return build(spec, features_only=features_only)


def load(run: str | Path, *, preprocessing: str | Path | None = None) -> TrainedNet:
    """A trained run: `.model` (eval mode), `.preprocess` (PIL image, uint8 tensor or file -> input tensor) and
    `.class_names`, with the preprocessing its run recorded (`preprocessing`: a record file, for older runs)."""
    from archgen.inference import load as load_run

    return load_run(run, preprocessing=preprocessing)


def convert_state_dict(state_dict: Any, *, source: str = "torchvision") -> dict[str, Any]:
    """torchvision's or timm's ResNet weights renamed for archgen's modules (load with strict=True)."""
    from archgen.compile import convert_state_dict as convert

    return convert(state_dict, source=source)  # type: ignore[arg-type]
