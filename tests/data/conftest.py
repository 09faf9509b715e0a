"""Fixtures: a tiny CIFAR-10 batches folder and a tiny image folder in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_data import write_cifar_batches, write_image_folder


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    write_cifar_batches(tmp_path / "cifar")
    return tmp_path / "cifar"


@pytest.fixture
def folder_dir(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images")
