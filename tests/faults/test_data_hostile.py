"""Hostile data for `archgen train --data`: planted pickles in CIFAR-10 batches (control: each payload runs under plain
pickle.load) and broken image folders. Each is one DataError line naming the file, or a documented acceptance."""

from __future__ import annotations

import os
import pickle
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_cifar_batches, write_image_folder

from archgen.data import load_data
from archgen.errors import DataError


class Reduce:
    """An object whose pickle calls `function(*args)` on load."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.function, self.args)


def payloads(marker: Path) -> dict[str, Any]:
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": Reduce(os.system, f"touch {marker}"),
        "builtins.eval": Reduce(eval, touch),
        "builtins.exec": Reduce(exec, touch),
        "nested reduce": {"data": [Reduce(eval, touch)], "labels": [0]},
        # a tensor's disguise: torch's own rebuild function, asked to run code through its argument
        "torch tensor disguise": {"data": Reduce(torch._utils._rebuild_tensor_v2, Reduce(eval, touch), 0, (1,), (1,),
                                                 False, {}), "labels": [0]},
        "numpy disguise": {"data": Reduce(np.frombuffer, Reduce(eval, f"({touch}, b'x')[1]"), np.uint8),
                           "labels": [0]},
    }


@pytest.mark.parametrize("name", list(payloads(Path("x"))))
def test_a_planted_pickle_never_runs(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    payload = payloads(marker)[name]
    planted = pickle.dumps(payload, protocol=2)
    with pytest.raises(Exception):  # noqa: B017  control: plain pickle.load runs it (then may fail on the rest)
        pickle.loads(planted)
        raise RuntimeError("ran")
    assert marker.exists(), "control: the payload must execute under plain pickle.load"
    marker.unlink()
    folder = write_cifar_batches(tmp_path / "c")
    (folder / "data_batch_3").write_bytes(planted)
    with pytest.raises(DataError, match=r"data_batch_3: not a CIFAR-10 python batch .*refusing to load") as error:
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    assert not marker.exists() and "\n" not in str(error.value)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda f: (f / "data_batch_2").unlink(), "missing data_batch_2"),
    (lambda f: (f / "test_batch").write_bytes((f / "test_batch").read_bytes()[:400]), "test_batch: not a CIFAR-10"),
    (lambda f: (f / "data_batch_1").write_bytes(pickle.dumps({"data": np.zeros((4, 3072), np.uint8),
                                                              "labels": [1, 2, 3]})), r"N 'labels', got"),
    (lambda f: (f / "data_batch_1").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8),
                                                              "labels": [1, 10]})), r"labels must lie in 0..9"),
    (lambda f: (f / "data_batch_4").write_bytes(b""), "data_batch_4: not a CIFAR-10"),
    (lambda f: ((f / "test_batch").unlink(), os.mkfifo(f / "test_batch")), "missing test_batch"),  # never opened
])
def test_a_damaged_cifar_folder_is_one_line(tmp_path: Path, damage: Any, message: str) -> None:
    damage(write_cifar_batches(tmp_path / "c"))
    with pytest.raises(DataError, match=message) as error:
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    assert "\n" not in str(error.value)


def _bomb_png(path: Path, side: int) -> None:
    """A tiny PNG whose header declares side x side pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * side))
                     + chunk(b"IEND", b""))


def _truncated_jpeg(path: Path) -> None:
    Image.new("RGB", (12, 12), (9, 9, 9)).save(path.with_suffix(".jpg"))
    path.with_suffix(".jpg").write_bytes(path.with_suffix(".jpg").read_bytes()[:150])


CAT = Path("train") / "cat"
BROKEN = {
    "zero-byte image": (lambda r: (r / CAT / "000.png").write_bytes(b""), "000.png: not an image"),
    "truncated PNG": (lambda r: (r / CAT / "001.png").write_bytes((r / CAT / "002.png").read_bytes()[:70]),
                      "001.png: not an image"),
    "truncated JPEG": (lambda r: _truncated_jpeg(r / CAT / "t"), "t.jpg: not an image"),
    "text named .png": (lambda r: (r / CAT / "notes.png").write_text("hello"), "notes.png: not an image"),
    "bomb 30000x30000": (lambda r: _bomb_png(r / CAT / "bomb.png", 30000), "bomb.png: refused as a possible decomp"),
    "bomb warning 10000x10000": (lambda r: _bomb_png(r / CAT / "big.png", 10000), "big.png: refused as a possible"),
    "empty class folder": (lambda r: (r / "train" / "yak").mkdir(), "train/yak: no images"),
    "no class folders": (lambda r: [shutil.rmtree(p) for p in (r / "train").iterdir()], "found 0"),
    "one class only": (lambda r: [shutil.rmtree(r / "train" / n) for n in ("dog", "emu")], "found 1"),
    "symlink loop": (lambda r: os.symlink(r / CAT / "loop.png", r / CAT / "loop.png"), "loop.png: not an image"),
    "dangling link": (lambda r: os.symlink(r / "gone.png", r / CAT / "gone.png"), "gone.png: not an image"),
    "folder named .png": (lambda r: (r / CAT / "d.png").mkdir(), "d.png: not a regular file"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_image_folder_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    damage, message = BROKEN[case]
    root = write_image_folder(tmp_path / "images")
    damage(root)
    with pytest.raises(DataError, match=message) as error:
        load_data(f"imagefolder:{root}", size=12)
    assert "\n" not in str(error.value)


def test_mixed_modes_are_converted(tmp_path: Path) -> None:
    """Accepted: L, RGBA, P and 16-bit greys among RGB images all become RGB; 16-bit is scaled, not clipped."""
    root = write_image_folder(tmp_path / "images")
    Image.new("L", (12, 12), 7).save(root / CAT / "l.png")
    Image.new("RGBA", (12, 12), (1, 2, 3, 0)).save(root / CAT / "rgba.png")
    Image.new("P", (12, 12), 3).save(root / CAT / "p.png")
    Image.fromarray(np.full((12, 12), 40000, np.uint16)).save(root / CAT / "wide.png")
    data = load_data(f"imagefolder:{root}", size=12)
    assert data.channels == 3 and len(data.train) == 13
    index = sorted(p.name for p in (root / CAT).iterdir()).index("wide.png")
    assert data.train.images[index].unique().tolist() == [round(40000 * 255 / 65535)]  # PIL's convert gives 255


def test_a_non_utf8_file_name_is_read(tmp_path: Path) -> None:
    """Accepted: names are bytes on Linux; an image called b'\\xff.png' is an image like any other."""
    root = write_image_folder(tmp_path / "images")
    shutil.copy(root / CAT / "000.png", os.path.join(bytes(root / CAT), b"\xff\xfe.png"))
    assert len(load_data(f"imagefolder:{root}", size=12).train) == 10


@pytest.mark.slow
def test_a_fifo_named_like_an_image_does_not_hang_the_cli(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images")
    os.mkfifo(root / CAT / "x.png")  # opening it would block until a writer comes: none will
    done = subprocess.run([sys.executable, "-m", "archgen", "train", "--data", f"imagefolder:{root}", "--epochs", "1",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"error: {root / CAT / 'x.png'}: not a regular file (a folder, FIFO, "
                                                "socket or device named like an image)"]
