"""Exports of a trained run carry its preprocessing (ONNX metadata_props, TorchScript and ExportedProgram extra
files); run in onnxruntime on real images they match `archgen predict` to 1e-5 in probabilities, fed by archgen's
preprocessing or by PIL and numpy reading the file's own record; `--with-preprocessing` takes uint8 images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from in_process import archgen_here
from pictures import picture
from PIL import Image, ImageOps

from archgen.export import read_metadata
from archgen.inference import load, predict
from archgen.training.preprocessing import METADATA_KEY, parse, read_record

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real image files of several sizes, modes and formats."""
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for index, (size, mode, suffix) in enumerate([((16, 16), "RGB", ".jpg"), ((40, 23), "RGB", ".png"),
                                                  ((16, 16), "L", ".png"), ((9, 31), "RGBA", ".png"),
                                                  ((64, 64), "RGB", ".jpg"), ((16, 16), "P", ".png")]):
        path = folder / f"{index}{suffix}"
        picture(size, shade=40 * index, mode=mode, seed=index).save(path)
        paths.append(path)
    return paths


def exported(run: Path, out: Path, *extra: str, format: str = "onnx") -> Path:
    outcome = archgen_here("build", str(run / "spec.toml"), "--export", format, "--out", str(out), "--weights",
                           str(run / "weights.safetensors"), *extra)
    assert outcome.code == 0, outcome.stderr
    return out


def predicted(run: Path, images: list[Path]) -> np.ndarray:
    """`archgen predict`'s probabilities of every class, (N, classes)."""
    net = load(run)
    rows = np.zeros((len(images), len(net.class_names)))
    for row, prediction in enumerate(predict(net, images, top=len(net.class_names)).predictions):
        for guess in prediction.top:
            rows[row, guess.index] = guess.probability
    return rows


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.from_numpy(logits).softmax(-1).double().numpy()


def onnx_run(path: Path, inputs: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def test_onnx_carries_its_preprocessing_and_matches_predict(jpeg_run: Path, images: list[Path],
                                                            tmp_path: Path) -> None:
    path = exported(jpeg_run, tmp_path / "net.onnx")
    record = parse(read_metadata(path, "onnx", [METADATA_KEY])[METADATA_KEY], "net.onnx")
    assert record == read_record(jpeg_run / "preprocessing.json")
    net = load(jpeg_run)
    inputs = torch.stack([net.preprocess(image) for image in images]).numpy()
    difference = np.abs(softmax(onnx_run(path, inputs)) - predicted(jpeg_run, images)).max()
    assert difference <= TOLERANCE


def test_an_outsider_feeds_the_onnx_file_from_its_own_record(jpeg_run: Path, images: list[Path],
                                                             tmp_path: Path) -> None:
    """PIL and numpy only, following the record the file carries (held 16x16, the whole image, mean and std)."""
    path = exported(jpeg_run, tmp_path / "net.onnx")
    record = json.loads(read_metadata(path, "onnx", [METADATA_KEY])[METADATA_KEY])
    assert record["held_size"] == record["size"] == record["resize"] and record["crop"] == "center"
    side, mean, std = record["size"], np.array(record["mean"]), np.array(record["std"])
    rows = []
    for image_path in images:
        with Image.open(image_path) as image:
            image = image.convert("RGB")
            if image.size != (side, side):
                image = ImageOps.fit(image, (side, side), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255
        rows.append(((pixels - mean[:, None, None]) / std[:, None, None]).astype(np.float32))
    difference = np.abs(softmax(onnx_run(path, np.stack(rows))) - predicted(jpeg_run, images)).max()
    assert difference <= TOLERANCE


def test_with_preprocessing_the_onnx_file_takes_uint8_images(jpeg_run: Path, images: list[Path],
                                                             tmp_path: Path) -> None:
    path = exported(jpeg_run, tmp_path / "uint8.onnx", "--with-preprocessing")
    net = load(jpeg_run)
    pixels = torch.stack([net.preprocess.pixels(image) for image in images]).numpy()
    assert pixels.dtype == np.uint8
    difference = np.abs(softmax(onnx_run(path, pixels)) - predicted(jpeg_run, images)).max()
    assert difference <= TOLERANCE


@pytest.mark.parametrize(("format", "suffix"), [("torchscript", ".pt"), ("exported-program", ".pt2")])
def test_torch_formats_carry_it_as_extra_files(format: str, suffix: str, jpeg_run: Path, tmp_path: Path) -> None:
    path = exported(jpeg_run, tmp_path / f"net{suffix}", format=format)
    text = read_metadata(path, format, [METADATA_KEY])[METADATA_KEY]  # type: ignore[arg-type]
    assert parse(text, path.name) == read_record(jpeg_run / "preprocessing.json")


def test_with_preprocessing_needs_trained_weights(tmp_path: Path) -> None:
    outcome = archgen_here("build", "resnet20", "--export", "onnx", "--out", str(tmp_path / "x.onnx"),
                           "--with-preprocessing")
    assert outcome.code == 2 and "--weights" in outcome.stderr
