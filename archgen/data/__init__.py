"""Data: the sources `--data` names, read into memory or streamed from disk, and resumable batch loaders over them.

Knows image files and tensors; nothing of specs' blocks, models or training. The data decide channels and classes;
the pipeline decides the size (see `archgen.training`). Two places:

- sources, what the data are: `source` (the `--data` grammar and what a source holds, torch-free), `dataset`
  (`load_data`: which module reads each kind), read into memory as `images.ImageData` by `digits`, `cifar`,
  `folder` and `synthetic`, or listed for streaming as `stream.StreamedData` by `stream`, `catalog` and `shards`;
  `decode` reads and decodes one file.
- loading, how batches are made: `order` (every order, for every loader), `loader` (the one `Loader`, and
  `make_loaders`, which picks its batch maker once: `device_batches`, `view_batches` or `stream_batches`), the
  decoding processes of streamed data (`decode_pool`), and what makes an image an input: `views` (the recipes'
  views, normalisation) and `crops` (the paper's pad, crop and flip); `single` makes one image an input exactly as
  a validation loader makes it (for using a trained net).

This front is torch-free: the source grammar loads at once; everything that needs torch loads on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archgen.data.source import USAGE, DataSource, Synthetic, held_images, parse_source
from archgen.lazy import attributes

if TYPE_CHECKING:
    from archgen.data.dataset import load_data
    from archgen.data.images import ImageData, Split
    from archgen.data.loader import Loader, Loaders, make_loaders
    from archgen.data.stream import StreamedData
    from archgen.data.views import Views


# name -> the module that defines it, imported on first use (each of these imports torch)
_LAZY = {
    "load_data": "dataset",
    "ImageData": "images", "Split": "images",
    "Loader": "loader", "Loaders": "loader", "make_loaders": "loader",
    "StreamedData": "stream",
    "Views": "views",
}
# a former name -> its name now: the streamed loader is the one Loader (tests/faults/test_data_stream_kill.py)
__all__ = [
    "USAGE",
    "DataSource",
    "ImageData",
    "Loader",
    "Loaders",
    "Split",
    "StreamedData",
    "Synthetic",
    "Views",
    "held_images",
    "load_data",
    "make_loaders",
    "parse_source",
]


__getattr__ = attributes("archgen.data", _LAZY)
