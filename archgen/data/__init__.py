"""Data: the sources `--data` names, read into memory or streamed from disk, and resumable batch loaders over them.

Knows image files and tensors; nothing of specs' blocks, models or training. The data decide channels and classes;
the pipeline decides the size (see `archgen.training`). This front is torch-free: the source grammar loads at once
(`parse_source`, `held_images`); everything that needs torch loads on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archgen.data.source import USAGE, DataSource, Synthetic, held_images, parse_source

if TYPE_CHECKING:
    from archgen.data.dataset import load_data
    from archgen.data.images import ImageData, Split
    from archgen.data.loader import BatchLoader, Loaders, make_loaders
    from archgen.data.stream import StreamedData
    from archgen.data.stream_loader import StreamLoader
    from archgen.data.view_loader import ViewLoader
    from archgen.data.views import Views

# name -> the module that defines it, imported on first use (each of these imports torch)
_LAZY = {
    "ImageData": "images", "Split": "images",
    "BatchLoader": "loader", "Loaders": "loader", "make_loaders": "loader",
    "load_data": "dataset",
    "StreamedData": "stream",
    "StreamLoader": "stream_loader",
    "ViewLoader": "view_loader",
    "Views": "views",
}

__all__ = [
    "USAGE",
    "BatchLoader",
    "DataSource",
    "ImageData",
    "Loaders",
    "Split",
    "StreamLoader",
    "StreamedData",
    "Synthetic",
    "ViewLoader",
    "Views",
    "held_images",
    "load_data",
    "make_loaders",
    "parse_source",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archgen.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"archgen.data.{module}"), name)
