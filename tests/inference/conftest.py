"""Runs the inference tests share: trained once per session in this process (a tiny net on the bundled digits, and
one on a small JPEG image folder with a test/ split, made here), or made by hand in a second for each test that
damages one (`made_run`: the files a run writes, untrained weights)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from pictures import write_folder
from safetensors.torch import save
from tiny import tiny_spec
from train_states import sample_state

from archgen.compile import build_model
from archgen.data import load_data, make_loaders
from archgen.training import RunFolder, fit_to_data, train, with_recipe
from archgen.training.preprocessing import METADATA_KEY, PREPROCESSING, recorded


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
def made_run(tmp_path: Path, jpeg_folder: Path) -> Path:
    """A run folder as archgen writes one when a run starts and finishes (spec.toml, preprocessing.json, a
    checkpoint, weights.safetensors with the record's copy), with untrained weights: made in a second, no
    training (metrics and summary are left out)."""
    spec = with_recipe(tiny_spec(batch_size=8), data=f"imagefolder:{jpeg_folder}")
    fitted = fit_to_data(spec, load_data(spec.train.data, size=spec.input.size))
    loaders = make_loaders(fitted.data, batch_size=8, augment=fitted.spec.train, seed=0, device="cpu", workers=0)
    record = recorded(fitted.spec, fitted.data, mean=loaders.mean, std=loaders.std)
    folder = RunFolder.create(tmp_path / "runs", spec.name)
    folder.write_spec(fitted.spec)
    folder.write_json(PREPROCESSING, record.document())
    torch.manual_seed(0)
    weights = {name: tensor.contiguous() for name, tensor in build_model(fitted.spec).state_dict().items()}
    folder.save_checkpoint(dataclasses.replace(sample_state(3), weights=weights))
    folder.write_weights(save(weights, metadata={METADATA_KEY: record.dumps()}))
    return folder.path
