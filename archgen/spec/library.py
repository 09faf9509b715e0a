"""The shipped spec library: every `archgen/specs/**/*.toml`, found by its file name.

`archgen build resnet34` and `extends = "resnet20"` look names up here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

LIBRARY_ROOT = Path(__file__).resolve().parent.parent / "specs"


@cache
def shipped_specs() -> dict[str, Path]:
    """Name (the file's stem) to path of every shipped spec."""
    return {path.stem: path for path in sorted(LIBRARY_ROOT.rglob("*.toml"))}


def find_shipped(name: str) -> Path | None:
    return shipped_specs().get(name)


def looks_like_name(text: str) -> bool:
    """A bare name such as `resnet34`, not a path such as `specs/resnet34.toml`."""
    return "/" not in text and "\\" not in text and not text.endswith(".toml")
