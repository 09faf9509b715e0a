"""Reading a parsed `--data` source: digits, CIFAR-10, synthetic images and image folders into memory
(`ImageData`), `stream:` folders, `wds:` shards and folders over the in-memory cap listed for streaming
(`StreamedData`).

Knows which module reads each kind; nothing of loaders or training.
"""

from __future__ import annotations

from collections.abc import Sequence

from archgen.data.folder import VAL_FOLDERS
from archgen.data.images import ImageData
from archgen.data.source import DataSource, Synthetic, parse_source
from archgen.data.stream import StreamedData


def load_data(source: str | DataSource, *, size: int, seed: int = 0,
              held_out: Sequence[str] = VAL_FOLDERS) -> ImageData | StreamedData:
    """Read a data source into memory, or list it for streaming (`stream:`, `wds:`, and image folders that would
    pass the in-memory cap). `size` is used by image folders whose images differ in size, and by streamed data
    (decoded at that size). held_out: the folder names an image folder's validation split may have, the first that
    exists taken (val/, else test/; evaluation may ask for test/ alone)."""
    parsed = parse_source(source) if isinstance(source, str) else source
    if parsed.kind in ("imagefolder", "stream", "wds"):
        return _files(parsed, size=size, held_out=held_out)
    if parsed.kind == "digits":
        from archgen.data.digits import load_digits_data

        return load_digits_data()
    if parsed.kind == "cifar10":
        from archgen.data.cifar import load_cifar10_data

        assert parsed.path is not None
        return load_cifar10_data(parsed.path)
    from archgen.data.synthetic import load_synthetic_data

    return load_synthetic_data(parsed.synthetic or Synthetic(), seed=seed)


def _files(source: DataSource, *, size: int, held_out: Sequence[str]) -> ImageData | StreamedData:
    """Image folders in memory unless their decoded images would pass the cap (a function of the files, so a resume
    decides alike); `stream:` folders and `wds:` shards always streamed."""
    from archgen.data import folder, stream
    from archgen.data.catalog import sample

    assert source.path is not None
    if source.kind == "wds":
        assert source.val is not None
        return stream.open_shards(str(source.path), str(source.val), size=size, source=str(source))
    listing = stream.list_folder(source.path, source=str(source), held_out=held_out)
    if source.kind == "stream":
        return stream.open_folder(listing, size=size, why="as stream: asks")
    images = listing.images()
    if folder.fits_in_memory(images, size=size, sample=sample(len(images), stream.SAMPLE, seed=stream.SAMPLE_SEED)):
        return folder.load_folder_data(source.path, size=size, held_out=held_out)
    why = (f"its {len(images):,} images decoded would pass the {folder.size_of(folder.MAX_BYTES)} archgen holds in "
           "memory")
    return stream.open_folder(listing, size=size, why=why)

