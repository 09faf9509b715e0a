"""Renaming torchvision's and timm's ResNet weights to archgen's module paths.

The arithmetic is untouched: only keys change, so a compiled v1.5 net with option B
shortcuts loads them with `strict=True` and computes the same outputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from torch import Tensor

from archgen.errors import ArchgenError

Source = Literal["torchvision", "timm"]

# torchvision and timm share the ResNet layout (timm keeps torchvision's names).
_BODY_RULES = [
    (r"^layer(\d+)\.(\d+)\.(conv\d|bn\d)\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.branch.{m[3]}."),
    (r"^layer(\d+)\.(\d+)\.downsample\.0\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.conv."),
    (r"^layer(\d+)\.(\d+)\.downsample\.1\.", lambda m: f"stages.{int(m[1]) - 1}.{m[2]}.shortcut.bn."),
    (r"^fc\.", lambda m: "head.fc."),
]
_PLAIN_STEM = [(r"^conv1\.", lambda m: "stem.conv."), (r"^bn1\.", lambda m: "stem.bn.")]
# timm's deep stem: conv1 = Sequential(conv, bn, relu, conv, bn, relu, conv); bn1 follows it.
_DEEP_STEM = [
    (r"^conv1\.0\.", lambda m: "stem.conv1."),
    (r"^conv1\.1\.", lambda m: "stem.bn1."),
    (r"^conv1\.3\.", lambda m: "stem.conv2."),
    (r"^conv1\.4\.", lambda m: "stem.bn2."),
    (r"^conv1\.6\.", lambda m: "stem.conv3."),
    (r"^bn1\.", lambda m: "stem.bn3."),
]


def convert_state_dict(state_dict: Mapping[str, Tensor], *, source: Source = "torchvision") -> dict[str, Tensor]:
    """torchvision/timm ResNet (ResNeXt, Wide ResNet, timm's resnet*c) weights under archgen's names."""
    if source not in ("torchvision", "timm"):
        raise ArchgenError(f"convert_state_dict: source must be 'torchvision' or 'timm', got {source!r}")
    deep_stem = "conv1.0.weight" in state_dict
    rules = [*(_DEEP_STEM if deep_stem else _PLAIN_STEM), *_BODY_RULES]
    converted, unknown = {}, []
    for key, tensor in state_dict.items():
        new_key = _rename(key, rules)
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = tensor
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ArchgenError(f"convert_state_dict: not a {source} ResNet state dict; unknown keys: {shown}")
    return converted


def _rename(key: str, rules: list) -> str | None:
    for pattern, replacement in rules:
        match = re.match(pattern, key)
        if match:
            return replacement(match) + key[match.end():]
    return None
