"""Data that would not fit in memory: refused in one line with the estimate, before it is allocated, under a real
address-space limit (`ulimit -v`) in a subprocess, never a traceback, never the OOM killer.

Controls show the estimates are honest: just under the room a process has left, a load succeeds under the same
limit and its resident memory grows by about the estimate (within a stated factor); just over, it is refused.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_cifar_batches, write_image_folder
from tiny import tiny_toml
from train_helpers import one_error_line

import archgen.data.cifar as cifar
import archgen.data.folder as folder
import archgen.memory as memory
from archgen.data import StreamedData, load_data
from archgen.data.cifar import MAX_BATCH_BYTES
from archgen.errors import DataError
from archgen.memory import CHUNK_BYTES, Headroom, InsufficientMemory

LIMIT = 6 * 2**30  # torch's CUDA build maps ~3.2 GB at import: the CLI has ~2.5 GB left for data
MiB = 2**20
PROBE = Path(__file__).with_name("memory_probe.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: no per-thread arenas mapped while measuring
RESNET18_AT_4096 = (Path(__file__).resolve().parents[2] / "archgen" / "specs" / "resnet18.toml").read_text().split(
    "[train]")[0].replace("size = 224", "size = 4096")  # without its ImageNet recipe, whose crops are 224 of 256-480
TINY_AT_4096 = tiny_toml(epochs=1).replace("size = 32", "size = 4096")
ENOUGH = r"needs about [\d.]+ GiB, more than the [\d.]+ [MG]iB this process may still take \(.+\)$"


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def archgen_limited(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m archgen ARGS` under `ulimit -v` of LIMIT."""
    return subprocess.run([sys.executable, "-m", "archgen", *args], capture_output=True, text=True, timeout=300,
                          env=ENV, preexec_fn=_limited)


def probe(room: int, setup: str, measured: str) -> dict[str, Any]:
    """memory_probe.py's report of MEASURED run with ROOM bytes of address space left after SETUP."""
    done = subprocess.run([sys.executable, str(PROBE), str(room), setup, measured], capture_output=True, text=True,
                          timeout=300, env=ENV)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """133 small images, one of another size: decoded at whatever size the spec asks (on disk: ~100 KB)."""
    root = write_image_folder(tmp_path_factory.mktemp("mixed") / "images", classes=("a", "b"), per_class=44, size=12)
    Image.new("RGB", (20, 14), (255, 0, 0)).save(root / "train" / "a" / "wide.png")
    return root


@pytest.fixture(scope="module")
def square_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """132 images of 16x16: they keep their size, and a copy may be resized to the spec's."""
    return write_image_folder(tmp_path_factory.mktemp("square") / "images", classes=("a", "b"), per_class=44, size=16)


# --- refused through the real CLI, under ulimit -v -----------------------------------------------------------


def _spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.slow
def test_a_spec_at_4096_on_digits_is_refused_before_resizing(tmp_path: Path) -> None:
    """The review's case: 1,797 digits resized to 4096² (28 GiB) with no estimate first."""
    done = archgen_limited("train", _spec(tmp_path, RESNET18_AT_4096), "--data", "digits", "--out", str(tmp_path))
    assert done.returncode == 1 and "Killed" not in done.stderr
    assert re.match(r"error: digits: resizing 1,797 1-channel images from 8x8 to 4096x4096 needs about 28\.\d GiB, "
                    r"more than the", one_error_line(done))


@pytest.mark.slow
def test_synthetic_data_under_the_cap_but_over_the_limit_is_refused_before_drawing(tmp_path: Path) -> None:
    """6.0 GiB of uint8 images passes the 8 GiB cap; generating them would peak higher still."""
    done = archgen_limited("train", _spec(tmp_path, tiny_toml(epochs=1)), "--data",
                           "synthetic:3x512x512,train=8000,val=100", "--out", str(tmp_path))
    assert done.returncode == 1 and "Killed" not in done.stderr
    assert re.match(r"error: generating 8,100 synthetic 3x512x512 images of 10 classes " + ENOUGH,
                    one_error_line(done))


@pytest.mark.slow
def test_an_image_folder_decoded_at_4096_is_refused_before_decoding(tmp_path: Path, mixed_folder: Path) -> None:
    done = archgen_limited("train", _spec(tmp_path, TINY_AT_4096), "--data", f"imagefolder:{mixed_folder}",
                           "--out", str(tmp_path))
    assert done.returncode == 1 and "Killed" not in done.stderr
    line = one_error_line(done)
    assert re.match(rf"error: imagefolder:{re.escape(str(mixed_folder))}: decoding 133 3-channel images at "
                    r"4096x4096 " + ENOUGH, line)


@pytest.mark.slow
def test_an_image_folder_with_a_resized_copy_is_refused_before_decoding(tmp_path: Path, square_folder: Path) -> None:
    """16x16 images are small; the copy resized to the spec's 4096 would not be: the estimate counts both."""
    done = archgen_limited("train", _spec(tmp_path, TINY_AT_4096), "--data", f"imagefolder:{square_folder}",
                           "--out", str(tmp_path))
    assert done.returncode == 1 and "Killed" not in done.stderr
    assert re.match(rf"error: imagefolder:{re.escape(str(square_folder))}: decoding 132 3-channel images at 16x16 "
                    r"beside a copy resized to 4096x4096 \(for networks whose strides need it\) " + ENOUGH,
                    one_error_line(done))


# --- controls: the estimates are honest ----------------------------------------------------------------------

ROOM = 800 * MiB  # address space left to the measured load, above what the probe has mapped
DIGITS = "from archgen.data import load_data\nfrom archgen.memory import headroom, InsufficientMemory\n" \
         "data = load_data('digits', size=8)"


def _honest(report: dict[str, Any], factor: float = 1.15) -> None:
    """The load grew resident memory by the estimate (its last one), within `factor` either way and 32 MiB."""
    estimate, grew = report["estimates"][-1], report["grew"]
    assert estimate / factor - 32 * MiB <= grew <= estimate * factor + 32 * MiB, (estimate, grew)


@pytest.mark.slow
def test_a_resize_just_under_the_room_left_succeeds_and_just_over_is_refused() -> None:
    report = probe(ROOM, DIGITS, """
room = headroom().bytes
under, over = (int((share * room / 1797) ** 0.5) for share in (0.6, 1.2))
try:
    data.resized(over)
    refused = None
except InsufficientMemory as error:
    refused = str(error)
data.resized(under)
result = dict(room=room, under=under, over=over, refused=refused)
""")
    result = report["result"]
    assert report["error"] is None and result["refused"] is not None
    assert result["refused"].startswith(f"digits: resizing 1,797 1-channel images from 8x8 to {result['over']}x")
    assert report["estimates"][-1] <= result["room"]  # the one that succeeded, under the same limit
    _honest(report)


@pytest.mark.slow
def test_generating_synthetic_data_grows_memory_by_its_estimate() -> None:
    report = probe(ROOM, "from archgen.data import load_data", "load_data('synthetic:3x256x256,train=800,val=50', "
                                                                   "size=8)")
    assert report["error"] is None and report["whats"] == ["generating 850 synthetic 3x256x256 images of 10 classes"]
    _honest(report)


@pytest.mark.slow
def test_decoding_an_image_folder_grows_memory_by_its_estimate(mixed_folder: Path) -> None:
    report = probe(ROOM, "from archgen.data import load_data", f"load_data('imagefolder:{mixed_folder}', size=1024)")
    assert report["error"] is None and report["whats"][-1].endswith("decoding 133 3-channel images at 1024x1024")
    _honest(report)


@pytest.mark.slow
def test_an_estimate_that_falls_short_still_ends_in_one_line() -> None:
    """The backstop: with the resize's estimate forced to zero, the allocation itself fails under the limit, and
    that is one InsufficientMemory line too. Control: the same allocation outside archgen is a RuntimeError."""
    report = probe(ROOM, DIGITS + "\nimport torch, archgen.data.images as images\n"
                                  "images.resize_bytes = lambda *args: 0", """
try:
    torch.empty(2**33, dtype=torch.uint8)
    result = None
except RuntimeError as error:
    result = str(error)
data.resized(4096)
""")
    assert "can't allocate memory" in report["result"]  # control: this is what a user would have seen
    assert re.fullmatch(r"digits: resizing 1,797 1-channel images from 8x8 to 4096x4096 ran out of memory "
                        r"\(estimated at about 0 MiB; .+\)", report["error"])


# --- channel statistics: temporaries bounded by bytes, not by the data -----------------------------------------

IMAGES_BYTES = 1000 * 3 * 256 * 256  # 196 MB
IMAGES = "import torch\nfrom archgen.data.images import channel_stats\n" \
         "images = torch.randint(0, 256, (1000, 3, 256, 256), dtype=torch.uint8)"


@pytest.mark.slow
def test_channel_statistics_of_200_mb_take_at_most_one_chunk() -> None:
    """Control: the same probe sees a float64 copy of the images (what the statistics used to make) as 8x."""
    counted = probe(0, IMAGES, "channel_stats(images)")
    assert counted["grew"] <= CHUNK_BYTES + 32 * MiB, counted["grew"]
    copied = probe(0, IMAGES, "images.to(torch.float64).sum()")
    assert copied["grew"] >= 7 * IMAGES_BYTES, copied["grew"]


# --- refused before anything is allocated: in this process, with the room left patched -------------------------


@pytest.fixture
def little_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(5 * MiB, "a test's 5 MiB"))


def test_a_folder_is_refused_before_any_pixel_is_decoded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Control: with room to spare the same load decodes (so the tripwire would have fired)."""
    root, decoded, read = write_image_folder(tmp_path / "images"), [], folder._read
    monkeypatch.setattr(folder, "_read", lambda path, *args: (decoded.append(path), read(path, *args))[1])
    assert load_data(f"imagefolder:{root}", size=4000).size == 12 and len(decoded) == 12
    decoded.clear()
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(100 * MiB, "a test's 100 MiB"))
    with pytest.raises(InsufficientMemory, match=r"decoding 12 3-channel images at 12x12 beside a copy resized to "
                                                 r"4000x4000 .* needs about 733 MiB, more than the 100 MiB this "
                                                 r"process may still take \(a test's 100 MiB\)$"):
        load_data(f"imagefolder:{root}", size=4000)
    assert decoded == []


def test_the_folder_cap_and_the_room_left_whichever_is_tighter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               little_room: None) -> None:
    root = write_image_folder(tmp_path / "images")
    Image.new("RGB", (20, 14), (255, 0, 0)).save(root / "train" / "cat" / "wide.png")  # mixed: decoded at 600
    with pytest.raises(InsufficientMemory, match=r"decoding 13 3-channel images at 600x600 needs about \d+ MiB, "
                                                 r"more than the 5 MiB"):
        load_data(f"imagefolder:{root}", size=600)
    monkeypatch.setattr("archgen.data.folder.MAX_BYTES", 2**20)  # now the cap is tighter than the room left
    with pytest.raises(DataError, match=r"13 images at 600x600 need 13 MiB in memory, more than archgen holds "
                                        r"\(1 MiB\); use a smaller input.size"):
        folder.load_folder_data(root, size=600)
    streamed = load_data(f"imagefolder:{root}", size=600)  # over the cap, `imagefolder:` streams instead
    assert isinstance(streamed, StreamedData) and "would pass the 1 MiB" in streamed.why


def test_synthetic_data_are_refused_before_a_number_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[object] = []
    rand = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *args, **kwargs: (drawn.append(args), rand(*args, **kwargs))[1])
    load_data("synthetic:1x8x8,classes=3,train=10,val=2", size=8)
    assert drawn  # control: loading draws the templates with torch.rand
    drawn.clear()
    monkeypatch.setattr(memory, "headroom", lambda: Headroom(5 * MiB, "a test's 5 MiB"))
    with pytest.raises(InsufficientMemory, match=r"generating 2,500 synthetic 3x64x64 images of 10 classes needs "
                                                 r"about 101 MiB, more than the 5 MiB"):
        load_data("synthetic:3x64x64,train=2000,val=500", size=8)
    assert drawn == []


def test_cifar_batches_are_refused_before_unpickling(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     little_room: None) -> None:
    write_cifar_batches(tmp_path / "c", per_batch=300)  # 6 x 300 x 3,072 bytes: 5.3 MiB
    monkeypatch.setattr(cifar, "_read_batch", lambda path: pytest.fail("unpickled"))
    with pytest.raises(InsufficientMemory, match=r"cifar10:.*: reading the batches \(5 MiB of arrays\) needs about "
                                                 r"\d+ MiB, more than the 5 MiB"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)


# --- CIFAR batches: what unpickling would make is bounded before it runs ----------------------------------------


def test_a_batch_of_a_million_pickle_operations_is_refused_unpickled(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """1 MB of empty lists unpickles to 60+ MB (and 1 GB of them to 60 GB): counted, refused, never run."""
    bomb = b"\x80\x02](" + b"]" * 1_100_000 + b"e."  # a list holding 1.1 million empty lists
    assert len(pickle.loads(bomb)) == 1_100_000  # control: plain pickle builds every one of them
    folder = write_cifar_batches(tmp_path / "c")
    (folder / "data_batch_2").write_bytes(bomb)
    monkeypatch.setattr(cifar, "_read_batch", lambda path: pytest.fail("unpickled"))
    with pytest.raises(DataError, match=r"data_batch_2: not a CIFAR-10 python batch \(more than 1,000,000 pickle "
                                        r"operations; a batch has about 30,000\)$"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)


@pytest.mark.parametrize(("extra", "message"), [(1, r"\(1\.0 GiB; a batch is 30 MB\)$"),
                                                (0, r"\(ValueError: at position 0, opcode b'\\x00' unknown\)$")])
def test_a_batch_over_a_gibibyte_is_refused_unread(tmp_path: Path, extra: int, message: str) -> None:
    """A sparse file (no disk used) one byte over the cap; control: at the cap it is read (and found garbage)."""
    folder = write_cifar_batches(tmp_path / "c")
    with open(folder / "data_batch_5", "wb") as file:
        file.truncate(MAX_BATCH_BYTES + extra)
    with pytest.raises(DataError, match=r"data_batch_5: not a CIFAR-10 python batch " + message):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)


def test_empty_training_batches_are_one_line(tmp_path: Path) -> None:
    """They made NaN statistics; control: an empty test batch is fine (statistics come from training images)."""
    empty = pickle.dumps({"data": torch.zeros((0, 3072), dtype=torch.uint8).numpy(), "labels": []}, protocol=4)
    folder = write_cifar_batches(tmp_path / "c")
    for name in cifar.TRAIN_FILES:
        (folder / name).write_bytes(empty)
    with pytest.raises(DataError, match=r"cifar10:.*: the training batches hold no images$"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    other = write_cifar_batches(tmp_path / "d")
    (other / cifar.TEST_FILE).write_bytes(empty)
    assert len(load_data(f"cifar10:{tmp_path / 'd'}", size=32).val) == 0
