"""`archgen predict` and `archgen.load`: the top classes of image files of any size and mode, prepared as evaluation
prepares them (so predicting the validation images gives evaluation's error), folders expanded, one note for
converted channels; the README's five lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from in_process import archgen_here
from pictures import picture, val_files
from PIL import Image

import archgen
from archgen.inference import evaluate, load, predict

pytestmark = pytest.mark.slow


def test_predicting_the_validation_images_gives_evaluation_s_error(jpeg_run: Path, jpeg_folder: Path) -> None:
    net = load(jpeg_run)
    files = val_files(jpeg_folder)
    predictions = predict(net, [jpeg_folder / "val"], top=1).predictions
    assert [p.image for p in predictions] == files  # the folder expanded, in the loaders' order
    wrong = sum(p.top[0].name != p.image.parent.name for p in predictions)
    assert wrong / len(files) == evaluate(net).error


def test_the_top_classes_with_names_and_probabilities(jpeg_run: Path, jpeg_folder: Path) -> None:
    image = val_files(jpeg_folder)[0]
    outcome = archgen_here("predict", str(jpeg_run), str(image), "--top", "2", "--json")
    assert outcome.code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    top = document["predictions"][0]["top"]
    assert document["predictions"][0]["image"] == str(image) and document["notes"] == []
    assert [guess["name"] for guess in top] == [("cat", "dog", "emu")[guess["index"]] for guess in top]
    assert len(top) == 2 and top[0]["probability"] >= top[1]["probability"]
    every = predict(load(jpeg_run), [image], top=9).predictions[0].top  # more than there are classes: all of them
    assert len(every) == 3 and sum(guess.probability for guess in every) == pytest.approx(1.0, abs=1e-6)
    table = archgen_here("predict", str(jpeg_run), str(image), "--top", "2")
    assert table.code == 0 and "1st" in table.stdout and "2nd" in table.stdout and "%" in table.stdout


@pytest.mark.parametrize(("name", "mode", "size"), [
    ("big.jpg", "RGB", (300, 200)), ("wide.png", "RGBA", (40, 9)), ("palette.png", "P", (20, 20)),
    ("grey.jpg", "L", (16, 16)), ("deep.png", "I;16", (18, 30)), ("cmyk.jpg", "CMYK", (17, 17)),
])
def test_any_size_and_mode_the_loaders_read(name: str, mode: str, size: tuple[int, int], jpeg_run: Path,
                                            tmp_path: Path) -> None:
    path = tmp_path / name
    if mode == "I;16":
        Image.fromarray((np.arange(size[0] * size[1]).reshape(size[1], size[0]) * 50).astype(np.uint16)).save(path)
    else:
        picture(size, shade=60, mode=mode).save(path)
    outcome = archgen_here("predict", str(jpeg_run), str(path), "--json")
    assert outcome.code == 0, outcome.stderr
    assert len(json.loads(outcome.stdout)["predictions"][0]["top"]) == 3


def test_other_channels_are_converted_and_said_once(digits_run: Path, tmp_path: Path) -> None:
    for index in range(3):
        picture((20, 20), shade=20 * index).save(tmp_path / f"colour{index}.png")
    picture((8, 8), shade=0, mode="L").save(tmp_path / "grey.png")
    outcome = archgen_here("predict", str(digits_run), str(tmp_path))
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.count("note: ") == 1
    assert ("note: 3 of 4 images are colour; the network takes 1-channel images: converted to L as the training "
            "loaders convert") in outcome.stdout


def test_load_gives_the_model_its_preprocessing_and_class_names(jpeg_run: Path, jpeg_folder: Path) -> None:
    net = archgen.load(jpeg_run)
    assert not net.model.training and net.class_names == ("cat", "dog", "emu") and net.weights == "weights.safetensors"
    image = Image.open(val_files(jpeg_folder)[0])
    x = net.preprocess(image)
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    with torch.no_grad():
        logits = net.model(x[None])
    assert net.class_names[int(logits.argmax())] == predict(net, [val_files(jpeg_folder)[0]]).predictions[0].top[0].name
    assert "x / 255, less mean, over std" in repr(net.preprocess)


def test_the_readme_lines_classify_an_image(jpeg_run: Path, jpeg_folder: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("# classify an image with a trained run\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "digits-resnet20-20261128-142632").symlink_to(jpeg_run)
    Image.open(val_files(jpeg_folder)[0]).save(tmp_path / "photo.jpg")
    exec(compile(code, "README.md", "exec"), {})
