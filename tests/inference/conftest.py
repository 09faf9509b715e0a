"""Trained runs the inference tests share (each trained once per session, in this process): a tiny net on the
bundled digits, and one on a small JPEG image folder (with a test/ split) made here. Tests that may change a run
work on a copy (`copy_run`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pictures import write_folder
from tiny import tiny_spec

from archgen.training import train, with_recipe


def trained(out: Path, data: str, **recipe: object) -> Path:
    result = train(with_recipe(tiny_spec(), data=data, **recipe), out=out)  # type: ignore[arg-type]
    assert result.run_dir is not None
    return result.run_dir


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny ResNet, one epoch on digits (1x8x8 grey, 10 classes, held in memory)."""
    return trained(tmp_path_factory.mktemp("digits"), "digits", epochs=1, batch_size=64)


@pytest.fixture(scope="session")
def jpeg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes of 16x16 JPEGs: train/ (8 each), val/ (4 each) and test/ (2 each, other images)."""
    root = write_folder(tmp_path_factory.mktemp("pets") / "pets", sizes=((16, 16),), suffix=".jpg", per_class=8)
    write_folder(root / "extra", sizes=((16, 16),), suffix=".jpg", per_class=4, val_name="test")
    (root / "extra" / "test").rename(root / "test")
    shutil.rmtree(root / "extra")
    return root


@pytest.fixture(scope="session")
def jpeg_run(tmp_path_factory: pytest.TempPathFactory, jpeg_folder: Path) -> Path:
    """Tiny ResNet, three epochs on the JPEG folder (held in memory at 16x16)."""
    return trained(tmp_path_factory.mktemp("runs"), f"imagefolder:{jpeg_folder}", epochs=3, batch_size=8)


@pytest.fixture
def copy_run(tmp_path: Path) -> Iterator[object]:
    """copy_run(run) -> a copy of the run folder under tmp_path, to damage or change."""
    def copy(run: Path) -> Path:
        return Path(shutil.copytree(run, tmp_path / run.name, symlinks=True))

    yield copy

