"""A tiny CIFAR-style spec (one block per stage, 4/8/16 filters) that tests train in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archgen import NetSpec, parse_spec
from archgen.spec.writer import dump_spec


def tiny_spec(*, residual: bool = True, **train: Any) -> NetSpec:
    recipe = {"epochs": 2, "batch_size": 64, "lr": 0.1, **train}
    return parse_spec({
        "name": "tiny", "input": {"channels": 3, "size": 32, "classes": 10},
        "stem": {"kind": "cifar", "width": 4},
        "body": {"block": "basic", "depths": [1, 1, 1], "width": 4, "shortcut": "A", "residual": residual},
        "train": recipe,
    })


def tiny_toml(**train: Any) -> str:
    """The tiny spec as a spec file's text (every field written)."""
    return dump_spec(tiny_spec(**train))


def write_tiny_spec(path: Path, **train: Any) -> Path:
    path.write_text(tiny_toml(**train))
    return path
