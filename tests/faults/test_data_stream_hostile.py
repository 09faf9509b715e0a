"""Hostile data on the streamed path (`stream:` folders, `wds:` shards): each broken file is one DataError line
naming it, found while listing or by a worker mid-epoch, never a hang and never a DataLoader traceback.

Controls: the undamaged folder and shards stream an epoch; a worker's message equals the in-process decode's;
a FIFO is shown to block a plain open (what the loader must never do).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data_hostile import _bomb_png, _truncated_jpeg
from tiny import tiny_toml
from train_helpers import one_error_line, write_tiny

import archgen.data.views as views
from archgen.data import load_data, make_loaders
from archgen.errors import DataError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_image_folder
from fake_shards import add, write_shards

pytestmark = pytest.mark.slow  # the loaders read with worker processes (workers=2), as training does
CAT = Path("train") / "cat"


def stream_epoch(source: str, *, workers: int = 2) -> None:
    """List `source`, make its loaders (the statistics' sample is read) and read one training epoch."""
    data = load_data(source, size=12)
    loaders = make_loaders(data, batch_size=4, augment=True, seed=0, device=torch.device("cpu"), workers=workers)
    for _ in loaders.train.batches(0):
        pass


def one_line(source: str, match: str, *, workers: int = 2) -> str:
    with pytest.raises(DataError, match=match) as error:
        stream_epoch(source, workers=workers)
    assert "\n" not in str(error.value)
    return str(error.value)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images", suffix=".jpg")


def test_an_undamaged_folder_and_its_shards_stream(root: Path, tmp_path: Path) -> None:
    stream_epoch(f"stream:{root}")
    stream_epoch(f"wds:{write_shards(root, tmp_path / 's', split='train', per_shard=4)},"
                 f"val={write_shards(root, tmp_path / 's', split='val', per_shard=4)}")


BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "zero-byte image": (lambda r: (r / CAT / "000.jpg").write_bytes(b""), "000.jpg: not an image"),
    "truncated JPEG": (lambda r: _truncated_jpeg(r / CAT / "t"), r"t.jpg: not an image archgen can read \("),
    "truncated PNG": (lambda r: (r / CAT / "t.png").write_bytes(_png(r)[:70]), "t.png: not an image"),
    "text named .png": (lambda r: (r / CAT / "notes.png").write_text("hello"), "notes.png: not an image"),
    "bomb 30000x30000": (lambda r: _bomb_png(r / CAT / "bomb.png", 30000), "bomb.png: refused as a possible decomp"),
    "bomb warning 10000x10000": (lambda r: _bomb_png(r / CAT / "big.png", 10000), "big.png: refused as a possible"),
    "JPEG header of 20000x20000": (lambda r: _huge_jpeg(r / CAT / "huge.jpg"), "huge.jpg: refused as a possible"),
    "symlink loop": (lambda r: os.symlink(r / CAT / "loop.png", r / CAT / "loop.png"), "loop.png: not an image"),
    "dangling link": (lambda r: os.symlink(r / "gone.png", r / CAT / "gone.png"), "gone.png: not an image"),
    "folder named .png": (lambda r: (r / CAT / "d.png").mkdir(), "d.png: not a regular file"),
    "FIFO named .jpg": (lambda r: os.mkfifo(r / CAT / "f.jpg"), "f.jpg: not a regular file"),
    "empty class folder": (lambda r: (r / "train" / "yak").mkdir(), "train/yak: no images"),
}


def _png(root: Path) -> bytes:
    path = root / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.unlink()
    return data


def _huge_jpeg(path: Path) -> None:
    """A small JPEG whose start-of-frame says 20000x20000: libjpeg would allocate 1.2 GB for it."""
    Image.new("RGB", (16, 16)).save(path)
    data = bytearray(path.read_bytes())
    at = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xC0)
    data[at + 5 : at + 9] = (20000).to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_streamed_folder_is_one_line_naming_the_file(root: Path, case: str) -> None:
    damage, message = BROKEN[case]
    damage(root)
    one_line(f"stream:{root}", message)


def test_a_workers_message_is_the_in_process_one(root: Path) -> None:
    _truncated_jpeg(root / CAT / "t")
    assert one_line(f"stream:{root}", "t.jpg", workers=2) == one_line(f"stream:{root}", "t.jpg", workers=0)


def test_a_file_turned_fifo_after_listing_is_refused_not_waited_on(root: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(subprocess.TimeoutExpired):  # control: a plain open of a FIFO waits for a writer
        subprocess.run([sys.executable, "-c", f"open({str(fifo)!r}, 'rb')"], timeout=2)
    data = load_data(f"stream:{root}", size=12)
    loaders = make_loaders(data, batch_size=4, augment=True, seed=0, device=torch.device("cpu"), workers=2)
    (root / CAT / "001.jpg").unlink()
    os.mkfifo(root / CAT / "001.jpg")
    with pytest.raises(DataError, match=r"001.jpg: not a regular file"):
        for _ in loaders.train.batches(0):
            pass


def test_a_worker_that_raises_or_dies_is_one_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "fit", lambda image, size: 1 / 0)  # forked workers inherit the patch
    with pytest.raises(DataError, match=r"^.*\.jpg: ZeroDivisionError: division by zero$") as error:
        stream_epoch(f"stream:{root}")
    assert "ZeroDivisionError" in str(error.value.__cause__)  # the worker's traceback, for --debug
    monkeypatch.setattr(views, "fit", lambda image, size: os.kill(os.getpid(), signal.SIGKILL))
    one_line(f"stream:{root}", r"a data worker failed: DataLoader worker \(pid")


@pytest.mark.slow
def test_a_broken_jpeg_mid_epoch_is_one_line_in_the_cli(root: Path, tmp_path: Path) -> None:
    """Found by a worker during the first epoch (its header reads fine), through the real CLI; FIFOs never hang."""
    _truncated_jpeg(root / CAT / "t")
    spec = write_tiny(tmp_path, tiny_toml(epochs=1, batch_size=4))
    done = subprocess.run([sys.executable, "-m", "archgen", "train", str(spec), "--data", f"stream:{root}",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "t.jpg: not an image archgen can read" in one_error_line(done)
    (root / CAT / "t.jpg").unlink()
    os.mkfifo(root / CAT / "x.jpg")
    done = subprocess.run([sys.executable, "-m", "archgen", "train", str(spec), "--data", f"stream:{root}",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and one_error_line(done).endswith("x.jpg: not a regular file (a folder, FIFO, "
                                                                  "socket or device named like an image)")


# --- shards -------------------------------------------------------------------------------------------------------


def _shards(root: Path, tmp_path: Path) -> tuple[Path, str]:
    """The folder as shards of 4 samples; returns the first training shard and the `wds:` source."""
    out = tmp_path / "s"
    train, val = (write_shards(root, out, split=split, per_shard=4) for split in ("train", "val"))
    return out / "train-000000.tar", f"wds:{train},val={val}"


def _rewrite(shard: Path, members: list[tuple[str, bytes]]) -> None:
    shard.unlink()
    with tarfile.open(shard, "w") as tar:
        for name, data in members:
            add(tar, name, data)


SHARDS: dict[str, tuple[Callable[[Path], object], str]] = {
    "cut mid-member": (lambda s: s.write_bytes(s.read_bytes()[:2000]), r"train-000000.tar: (truncated|not an unc)"),
    "cut between members": (lambda s: s.write_bytes(s.read_bytes()[: 512 + 1024]), r"train-000000.tar: truncated"),
    "not a tar": (lambda s: s.write_bytes(b"hello" * 300), r"train-000000.tar: not an uncompressed tar file"),
    "gzipped": (lambda s: s.write_bytes(gzip.compress(s.read_bytes())), r"train-000000.tar: not an uncompressed"),
    "FIFO": (lambda s: (s.unlink(), os.mkfifo(s)), r"train-000000.tar: not a regular file"),
    "missing": (lambda s: s.unlink(), r"train-000000.tar: no such shard"),
    "sample without class": (lambda s: _rewrite(s, [("k.jpg", b"x")]), r"sample k has no class"),
    "sample without image": (lambda s: _rewrite(s, [("k.cls", b"1")]), r"sample k has no image"),
    "class not a number": (lambda s: _rewrite(s, [("k.jpg", b"x"), ("k.cls", b"cat")]),
                           r"member k.cls: a class index is an integer"),
    "two images": (lambda s: _rewrite(s, [("k.jpg", b"x"), ("k.png", b"y"), ("k.cls", b"1")]),
                   r"sample k has two images"),
    "text member named .jpg": (lambda s: _rewrite(s, [("k.jpg", b"not a picture"), ("k.cls", b"1")]),
                               r"train-000000.tar: member k.jpg: not an image archgen can read"),
}


@pytest.mark.parametrize("case", list(SHARDS))
def test_a_broken_shard_is_refused_in_one_line(root: Path, tmp_path: Path, case: str) -> None:
    """Refused, not skipped: a run never trains on other samples than it counted (a resume checks them)."""
    damage, message = SHARDS[case]
    shard, source = _shards(root, tmp_path)
    damage(shard)
    one_line(source, message)


def test_a_shard_member_that_is_a_link_is_refused(root: Path, tmp_path: Path) -> None:
    shard, source = _shards(root, tmp_path)
    shard.unlink()
    with tarfile.open(shard, "w") as tar:
        link = tarfile.TarInfo("k.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    one_line(source, r"member k.jpg is not a regular file")
    shutil.rmtree(tmp_path / "s")
