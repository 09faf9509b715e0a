"""Every data source reads into uint8 (N, C, H, W) tensors, and every bad source is one clear DataError."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_data import write_cifar_batches, write_image_folder
from PIL import Image

import archgen.data.source as source_module
from archgen.data import held_images, load_data, parse_source
from archgen.data.cifar import load_cifar10_data
from archgen.data.folder import load_folder_data
from archgen.errors import DataError


@pytest.mark.parametrize(("text", "kind"), [("digits", "digits"), ("cifar10:/x", "cifar10"),
                                             ("imagefolder:rel/dir", "imagefolder"), ("synthetic", "synthetic")])
def test_parse_source_kinds(text: str, kind: str) -> None:
    assert parse_source(text).kind == kind


@pytest.mark.parametrize(("text", "message"), [
    ("mnist", "unknown data source"),
    ("cifar10", "needs a folder"),
    ("synthetic:3x32", "CxHxW"),
    ("synthetic:3x32x16", "square"),
    ("synthetic:3x8x8,classes=1", "at least 2"),
    ("synthetic:3x8x8,colour=2", "is not CxHxW"),
    ("synthetic:64x4096x4096,train=100000", "more than archgen holds"),
])
def test_parse_source_rejects_with_one_line(text: str, message: str) -> None:
    with pytest.raises(DataError, match=message) as error:
        parse_source(text)
    assert "\n" not in str(error.value)


def test_digits_has_a_fixed_stratified_split() -> None:
    first, second = load_data("digits", size=8), load_data("digits", size=8)
    assert (len(first.train), len(first.val)) == (1437, 360)
    assert first.train.images.shape[1:] == (1, 8, 8) and first.train.images.dtype == torch.uint8
    assert torch.equal(first.val.labels, second.val.labels) and torch.equal(first.train.images, second.train.images)
    assert torch.bincount(first.val.labels).min() >= 35  # every digit in validation, ~10% each
    assert first.train.images.max() == 255 and first.mirror is False


def test_synthetic_shape_and_seed() -> None:
    data = load_data("synthetic:2x16x16,classes=3,train=20,val=6", size=0, seed=1)
    assert data.train.images.shape == (20, 2, 16, 16) and len(data.val) == 6 and data.classes == 3
    again = load_data("synthetic:2x16x16,classes=3,train=20,val=6", size=0, seed=1)
    assert torch.equal(data.train.images, again.train.images)
    other_seed = load_data("synthetic:2x16x16,classes=3,train=20,val=6", size=0, seed=2)
    assert not torch.equal(data.train.images, other_seed.train.images)


def test_cifar_batches_read_as_torchvision_reads_them(cifar_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import CIFAR10

    # our fake batches have other md5s than the real ones torchvision checks
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    ours = load_cifar10_data(cifar_dir)
    for split, train in ((ours.train, True), (ours.val, False)):
        theirs = CIFAR10(str(cifar_dir), train=train, download=False)
        assert torch.equal(split.images, torch.from_numpy(theirs.data).permute(0, 3, 1, 2))  # (N, 32, 32, 3) there
        assert split.labels.tolist() == theirs.targets
    assert ours.class_names == tuple(CIFAR10(str(cifar_dir), train=False).classes)


def test_cifar_accepts_the_batches_folder_itself(cifar_dir: Path) -> None:
    assert len(load_data(f"cifar10:{cifar_dir / 'cifar-10-batches-py'}", size=32).train) == 20


def test_cifar_missing_files_name_what_was_expected(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"expected the CIFAR-10 python batches .*missing data_batch_3"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    with pytest.raises(DataError, match="no such folder"):
        load_data(f"cifar10:{tmp_path / 'nowhere'}", size=32)


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def test_planted_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c")
    marker = tmp_path / "pwned"
    with open(folder / "test_batch", "wb") as file:
        pickle.dump({"data": _Planted(marker), "labels": [0]}, file)
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 python batch .*refusing to load"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    assert not marker.exists()


def test_malformed_cifar_batch(tmp_path: Path) -> None:
    folder = write_cifar_batches(tmp_path / "c")
    with open(folder / "data_batch_1", "wb") as file:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, file, protocol=2)
    with pytest.raises(DataError, match=r"data_batch_1: expected 'data' of shape \(N, 3072\)"):
        load_data(f"cifar10:{tmp_path / 'c'}", size=32)
    other = write_cifar_batches(tmp_path / "d")
    (other / "data_batch_2").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="data_batch_2: not a CIFAR-10 python batch"):
        load_cifar10_data(tmp_path / "d")


def test_image_folder_classes_labels_and_size(folder_dir: Path) -> None:
    data = load_data(f"imagefolder:{folder_dir}", size=32)
    assert data.class_names == ("cat", "dog", "emu") and data.channels == 3 and data.size == 12
    assert data.train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and len(data.val) == 3
    pixels = np.array(Image.open(folder_dir / "train" / "dog" / "001.png"))
    assert torch.equal(data.train.images[4], torch.from_numpy(pixels).permute(2, 0, 1))
    assert data.native_size is None


def test_image_folder_grey_jpeg_and_test_split(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "g", mode="L", suffix=".jpg", val_name="test")
    data = load_folder_data(root, size=32)
    assert data.channels == 1 and data.size == 12 and len(data.val) == 3


def test_image_folder_mixed_sizes_are_resized_to_the_size_asked(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "m")
    Image.new("RGB", (20, 14), (255, 0, 0)).save(root / "train" / "cat" / "wide.png")
    data = load_folder_data(root, size=16)
    assert data.size == 16 and data.native_size == 16 and len(data.train) == 10
    assert data.train.images[3].float().mean(dim=(1, 2)).tolist() == pytest.approx([255, 0, 0], abs=1)


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda root: shutil.rmtree(root / "val"), r"no val/ or test/ folder; expected .*/train/<class>/<image>"),
    (lambda root: shutil.rmtree(root / "train"), "no train/ folder"),
    (lambda root: [p.unlink() for p in (root / "train" / "dog").iterdir()], r"train/dog: no images"),
    (lambda root: (root / "val" / "yak").mkdir(), "class folders yak are not in train/"),
    (lambda root: (root / "train" / "cat" / "000.png").write_bytes(b"not a png"), r"000.png: not an image"),
    (lambda root: (root / "train" / "cat" / "001.png").write_bytes(
        (root / "train" / "cat" / "002.png").read_bytes()[:60]), r"001.png: not an image"),
])
def test_broken_image_folders_say_what_was_expected(folder_dir: Path, break_it, message: str) -> None:  # type: ignore[no-untyped-def]
    break_it(folder_dir)
    with pytest.raises(DataError, match=message) as error:
        load_data(f"imagefolder:{folder_dir}", size=12)
    assert "\n" not in str(error.value)


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"imagefolder:.*nowhere: no such folder; expected"):
        load_data(f"imagefolder:{tmp_path / 'nowhere'}", size=12)


def test_resized_data_keep_labels_and_remember_their_size() -> None:
    data = load_data("digits", size=8).resized(16)
    assert data.size == 16 and data.native_size == 8 and len(data.train) == 1437


@pytest.mark.parametrize("text", ["digits", "cifar10:/data/c", "imagefolder:/x/y",
                                  "synthetic:1x8x8,classes=3,train=10,val=5"])
def test_sources_print_as_they_parse(text: str) -> None:
    assert str(parse_source(text)) == text and parse_source(str(parse_source("synthetic"))) == parse_source("synthetic")


@pytest.mark.slow
def test_the_front_imports_no_torch() -> None:
    """`import archgen.data` and parsing a source cost no torch import (the search's parent process, `--help`)."""
    code = ("import sys, archgen.data; archgen.data.held_images(archgen.data.parse_source('digits')); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'archgen.data.dataset' not in sys.modules, 'load_data loaded before its first use'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("text", "held"), [
    ("digits", (1797, 1)),
    ("cifar10:/nowhere", (60_000, 3)),
    ("synthetic", (1280, 3)),
    ("synthetic:1x8x8,classes=3,train=10,val=5", (15, 1)),
    ("stream:/nowhere", (0, 3)),
    ("wds:/s/t-{0..9}.tar,val=/s/v.tar", (0, 3)),
    ("imagefolder:/nowhere", (0, 3)),
])
def test_held_images_are_known_without_reading(text: str, held: tuple[int, int]) -> None:
    assert held_images(parse_source(text)) == held


def test_held_images_of_a_folder_are_its_files_counted_up_to_a_cap(folder_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_data(f"imagefolder:{folder_dir}", size=12)
    assert held_images(parse_source(f"imagefolder:{folder_dir}")) == (len(data.train) + len(data.val), 3) == (12, 3)
    monkeypatch.setattr(source_module, "MAX_COUNTED", 5)
    assert held_images(parse_source(f"imagefolder:{folder_dir}")) == (5, 3)  # the count stops at the cap
