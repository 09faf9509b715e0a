"""One streamed image: its bytes read safely, decoded and fitted to the network's size.

Runs in the data workers. Reads only regular files and never blocks on opening one (a FIFO planted after the
listing is refused, not waited on); refuses a sample larger than an image file can be before allocating its buffer,
and decompression bombs from the header, before any pixel is allocated.
JPEG is decoded by torchvision's libjpeg-turbo (1.5x PIL's speed here, see bench/streamed_loader.md), every other
format by PIL as image folders are. Knows nothing of catalogs' origins, orders or loaders.
"""

from __future__ import annotations

import io
import os
import stat
import warnings

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from archgen.data.catalog import Location
from archgen.data.folder import to_8bit
from archgen.errors import DataError, printable

try:  # deprecated in torchvision 0.29 for TorchCodec; PIL decodes JPEGs too where it is gone
    from torchvision.io import ImageReadMode, decode_jpeg
except ImportError:  # pragma: no cover
    decode_jpeg = None

JPEG = b"\xff\xd8\xff"
# Start-of-frame markers (they hold the size): C0..CF but DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # markers without a length (TEM, RSTn, SOI)
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "PPM", "TIFF", "WEBP")  # PIL plugins for the folders' extensions
PIXEL_BYTES = 8  # the widest pixel a decoder here takes, stored raw: 16-bit RGBA (TIFF, PNG, PPM)
METADATA_BYTES = 2**24  # what an image file holds beside its pixels: EXIF, ICC profiles, XMP, thumbnails
DEFAULT_PIXELS = 89_478_485  # PIL's MAX_IMAGE_PIXELS as shipped, where a program has set it to None


def max_image_bytes() -> int:
    """The most bytes one image file (or a shard's image member) can legitimately hold: the pixels archgen decodes at
    most (PIL's bomb limit, read now: a program may change it) at the widest pixel, stored raw, and its metadata."""
    return (Image.MAX_IMAGE_PIXELS or DEFAULT_PIXELS) * PIXEL_BYTES + METADATA_BYTES


def check_length(length: int, shown: str) -> None:
    """Refuse, before a buffer is allocated, a sample that claims more bytes than an image file can hold."""
    most = max_image_bytes()
    if length > most:
        raise DataError(f"{shown}: {length:,} bytes, more than an image file can hold (at most {most:,}: PIL's "
                        f"pixel limit at {PIXEL_BYTES} bytes a pixel, and {METADATA_BYTES // 2**20} MiB of metadata)")


def read(location: Location) -> bytearray:
    """The sample's bytes, from a regular file of the size it was listed with (else one DataError line)."""
    shown = location.shown
    try:
        fd = os.open(location.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens without a writer
    except OSError as error:  # missing, a dangling link, a link loop, no permission
        raise DataError(f"{shown}: not an image archgen can read ({printable(str(error))})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{shown}: not a regular file (a folder, FIFO, socket or device named like an image)")
        if info.st_size != location.file_size:
            raise DataError(f"{shown}: changed since the data were listed ({info.st_size:,} bytes, "
                            f"{location.file_size:,} then)")
        check_length(location.length, shown)
        buffer = bytearray(location.length)  # writable: torch takes it without a copy
        view, done = memoryview(buffer), 0
        while done < location.length:
            got = os.preadv(fd, [view[done:]], location.offset + done)
            if not got:
                raise DataError(f"{shown}: ended after {done:,} of {location.length:,} bytes while being read")
            done += got
        return buffer
    finally:
        os.close(fd)


def decode(data: bytearray, shown: str, channels: int) -> Tensor:
    """(channels, H, W) uint8. JPEGs by libjpeg-turbo once their header's size has passed PIL's bomb limit."""
    dimensions = jpeg_size(data) if decode_jpeg is not None and data[:3] == JPEG else None
    if dimensions is None:
        return _decode_pil(data, shown, channels)
    check_pixels(*dimensions, shown)
    mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29's notice, on every call
            return decode_jpeg(torch.frombuffer(data, dtype=torch.uint8), mode=mode)
    except RuntimeError as error:  # "decode_jpeg, <source file>:<line>, Image is incomplete or truncated"
        reason = str(error).rpartition(", ")[2]
        raise DataError(f"{shown}: not an image archgen can read ({printable(reason)})") from None


def jpeg_size(data: bytearray) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, or None if the segments before it do not parse."""
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF or marker in STANDALONE:  # a fill byte, or a marker with no length
            at += 1 if marker == 0xFF else 2
            continue
        if marker in SOF_MARKERS:
            height, width = int.from_bytes(data[at + 5 : at + 7], "big"), int.from_bytes(data[at + 7 : at + 9], "big")
            return (width, height) if width and height else None
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame: not a JPEG we can size
            return None
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def check_pixels(width: int, height: int, shown: str) -> None:
    """PIL's decompression-bomb limit (archgen refuses what PIL only warns about, as image folders do)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise DataError(f"{shown}: refused as a possible decompression bomb ({width}x{height} = {width * height:,} "
                        f"pixels, more than PIL's limit of {limit:,})")


def _decode_pil(data: bytearray, shown: str, channels: int) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                check_pixels(*opened.size, shown)
                image = to_8bit(opened).convert("L" if channels == 1 else "RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise DataError(f"{shown}: refused as a possible decompression bomb ({printable(str(error))})") from None
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as error:
            raise DataError(f"{shown}: not an image archgen can read ({printable(str(error))})") from None
    width, height = image.size
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # (C, H, W)


def fit(image: Tensor, size: int) -> Tensor:
    """Shorter side resized to `size` (antialiased bilinear), then centre-cropped: torchvision's Resize(size) and
    CenterCrop(size) on tensors, as an ImageNet evaluation does."""
    if image.shape[-2:] != (size, size):
        image = TF.resize(image, [size], antialias=True)
    return TF.center_crop(image, [size, size])
