"""`Preprocess` makes each image exactly as the run's validation loader makes it: held folders of one size, of mixed
sizes, resized by fitting with eval_resize and ten crops, streamed folders; files, PIL images and tensors alike.
The oracle is the loader itself (`make_loaders`' validation batches), compared with torch.equal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pictures import picture, val_files, write_folder
from PIL import Image
from tiny import tiny_spec

from archgen.data import load_data, make_loaders
from archgen.errors import DataError
from archgen.inference import Preprocess
from archgen.spec.schema import NetSpec
from archgen.training.fitting import fit_to_data
from archgen.training.preprocessing import Preprocessing, recorded


def loader_and_record(spec: NetSpec, source: str) -> tuple[torch.Tensor, Preprocessing]:
    """The validation split as the loader makes it (every batch, concatenated) and the record a run would write."""
    fitted = fit_to_data(spec, load_data(source, size=spec.input.size, seed=0))
    loaders = make_loaders(fitted.data, batch_size=20, augment=fitted.spec.train, seed=0, device="cpu", workers=0)
    batches = torch.cat([images for images, _ in loaders.val.batches(0)])
    return batches, recorded(fitted.spec, fitted.data, mean=loaders.mean, std=loaders.std)


CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # name: (folder, recipe, kind)
    "held one size": ({"sizes": ((12, 12),)}, {}, "imagefolder"),
    "held mixed sizes": ({"sizes": ((12, 12), (20, 15), (9, 14))}, {}, "imagefolder"),
    "held, resized by fitting, ten crops": ({"sizes": ((40, 40),), "suffix": ".jpg"},
                                            {"eval_resize": 36, "eval_crop": "ten"}, "imagefolder"),
    "held grey": ({"sizes": ((12, 12),), "mode": "L"}, {}, "imagefolder"),
    "streamed": ({"sizes": ((30, 41), (50, 33)), "suffix": ".jpg"}, {}, "stream"),
    "streamed, ten crops": ({"sizes": ((30, 41), (64, 48))}, {"eval_resize": 36, "eval_crop": "ten"}, "stream"),
}


@pytest.mark.parametrize("case", CASES)
def test_files_are_prepared_as_the_validation_loader_prepares_them(case: str, tmp_path: Path) -> None:
    folder_args, recipe, kind = CASES[case]
    root = write_folder(tmp_path / "data", **folder_args)
    batches, record = loader_and_record(tiny_spec(**recipe), f"{kind}:{root}")
    assert record.loader == ("streamed" if kind == "stream" else "held")
    preprocess = Preprocess(record)
    prepared = torch.stack([preprocess(path) for path in val_files(root)])
    assert prepared.shape == batches.shape
    assert torch.equal(prepared, batches)


def test_held_record_says_the_images_were_resized_when_loaded(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", sizes=((40, 40),), suffix=".jpg")
    _, record = loader_and_record(tiny_spec(eval_resize=36, eval_crop="ten"), f"imagefolder:{root}")
    assert (record.held_size, record.size, record.resize, record.crop) == (40, 32, 36, "ten")
    assert any("resized to 32x32" in step for step in record.steps())


def test_a_pil_image_a_tensor_and_its_file_give_one_input(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data", sizes=((12, 12), (20, 15)))
    _, record = loader_and_record(tiny_spec(), f"imagefolder:{root}")
    preprocess = Preprocess(record)
    path = tmp_path / "odd.png"
    picture((23, 17), shade=40).save(path)
    with Image.open(path) as image:
        from_pil = preprocess(image)
        pixels = torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(preprocess(path), from_pil)
    assert torch.equal(preprocess(pixels), from_pil)
    assert from_pil.shape == (3, 32, 32) and from_pil.dtype == torch.float32


def test_colour_becomes_grey_as_the_loaders_convert(tmp_path: Path) -> None:
    """A colour image for a grey network: PIL's convert("L"), as a grey folder holding it would read it."""
    root = write_folder(tmp_path / "data", mode="L")
    _, record = loader_and_record(tiny_spec(), f"imagefolder:{root}")
    preprocess = Preprocess(record)
    colour = picture((12, 12), shade=30, mode="RGB")
    colour.save(tmp_path / "colour.png")
    prepared = preprocess.prepared(tmp_path / "colour.png")
    assert prepared.channels == 3 and prepared.pixels.shape == (1, 12, 12)
    assert torch.equal(prepared.pixels[0], torch.from_numpy(np.asarray(colour.convert("L")).copy()))


@pytest.mark.parametrize("tensor", [torch.zeros(3, 8, 8, dtype=torch.float32), torch.zeros(5, 8, 8, dtype=torch.uint8),
                                    torch.zeros(1, 3, 8, 8, dtype=torch.uint8)])
def test_a_tensor_that_is_no_image_is_one_line(tensor: torch.Tensor, tmp_path: Path) -> None:
    root = write_folder(tmp_path / "data")
    _, record = loader_and_record(tiny_spec(), f"imagefolder:{root}")
    with pytest.raises(DataError, match=r"^tensor: .*(uint8 image tensor|channels)"):
        Preprocess(record)(tensor)


def test_a_streamed_run_refuses_a_fifo_and_a_bomb_as_its_loader_does(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_folder(tmp_path / "data", sizes=((30, 41),), suffix=".jpg")
    _, record = loader_and_record(tiny_spec(), f"stream:{root}")
    preprocess = Preprocess(record)
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(DataError, match=r"pipe.jpg: not a regular file"):
        preprocess(tmp_path / "pipe.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for suffix in (".jpg", ".png"):  # JPEGs sized from their header, others by PIL
        picture((20, 20), shade=0).save(tmp_path / f"bomb{suffix}")
        with pytest.raises(DataError, match=rf"bomb{suffix}: refused as a possible decompression bomb"):
            preprocess(tmp_path / f"bomb{suffix}")
