"""`archgen evaluate`: on a run's own data and split it gives the recorded final validation error exactly (digits,
and a JPEG image folder made here); other splits and sources; top-5, per-class errors and the confusion matrix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from in_process import archgen_here
from pictures import snapshot, write_folder

from archgen.training import read_metrics

pytestmark = pytest.mark.slow


def evaluated(run: Path, tmp_path: Path, *args: str) -> dict[str, object]:
    outcome = archgen_here("evaluate", str(run), "--json", "--plot", str(tmp_path / "confusion.png"), *args)
    assert outcome.code == 0, outcome.stderr
    return json.loads(outcome.stdout)  # stdout holds the one JSON document and nothing else


@pytest.mark.parametrize("run_name", ["digits_run", "jpeg_run"])
def test_own_validation_split_gives_the_recorded_error_exactly(run_name: str, request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    run: Path = request.getfixturevalue(run_name)
    before = snapshot(run)
    result = evaluated(run, tmp_path)
    last = read_metrics(run)[-1]
    assert result["error"] == last.val_error == result["recorded"]  # the same images, the same preprocessing
    assert result["loss"] == last.val_loss
    assert snapshot(run) == before  # evaluation reads the run folder only
    assert (tmp_path / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_the_report_holds_top5_per_class_errors_and_the_confusion_matrix(digits_run: Path, tmp_path: Path) -> None:
    result = evaluated(digits_run, tmp_path)
    confusion, images = result["confusion"], result["class_images"]
    assert isinstance(confusion, list) and isinstance(images, list)
    assert [sum(row) for row in confusion] == images and sum(images) == result["images"] == 360
    wrong = sum(sum(row) - row[index] for index, row in enumerate(confusion))
    assert result["error"] == wrong / 360
    assert result["top5_error"] is not None and result["top5_error"] <= result["error"]
    errors = result["class_errors"]
    assert isinstance(errors, list) and errors[3] == (images[3] - confusion[3][3]) / images[3]


def test_the_table_says_the_error_equals_the_recorded_one(jpeg_run: Path, tmp_path: Path) -> None:
    outcome = archgen_here("evaluate", str(jpeg_run), "--plot", str(tmp_path / "c.png"))
    assert outcome.code == 0, outcome.stderr
    assert "val split · 12 images · centre crop" in outcome.stdout
    assert "(the run's recorded final validation error: " in outcome.stdout and ", equal)" in outcome.stdout
    assert "top-5" not in outcome.stdout  # 3 classes: top-5 says nothing
    assert "cat" in outcome.stdout and f"wrote {tmp_path / 'c.png'} (confusion matrix)" in outcome.stdout


def test_other_splits(jpeg_run: Path, tmp_path: Path) -> None:
    test = evaluated(jpeg_run, tmp_path, "--split", "test", "--force")
    train = evaluated(jpeg_run, tmp_path, "--split", "train", "--force")
    assert (test["images"], train["images"]) == (6, 24)
    assert test["recorded"] is None and train["recorded"] is None  # not what training validated on


def test_another_source_with_the_run_s_classes(jpeg_run: Path, tmp_path: Path) -> None:
    """Images of another size and mode: held at the network's size and converted, each said once."""
    other = write_folder(tmp_path / "other", sizes=((24, 24),), mode="L")
    result = evaluated(jpeg_run, tmp_path, "--data", f"imagefolder:{other}")
    assert result["images"] == 6 and result["recorded"] is None
    notes = result["notes"]
    assert isinstance(notes, list) and len(notes) == 2
    assert "1-channel images; the network takes 3: converted" in notes[0] and "24x24 images to" in notes[1]


@pytest.mark.parametrize(("args", "message"), [
    (("--split", "test"), r"^error: digits: no test split \(it has a training and a validation split"),
    (("--crops", "ten"), r"^error: digits: ten-crop evaluation averages over mirror images"),
    (("--data", "synthetic:1x8x8,classes=3"),
     r"^error: synthetic:.*: classes \[class0, class1, class2\]; the run was trained on \[0, 1, 2, 3, 4, 5 and 4 "
     r"more\]"),
])
def test_what_cannot_be_evaluated_is_one_line(args: tuple[str, ...], message: str, digits_run: Path,
                                              tmp_path: Path) -> None:
    before = snapshot(digits_run)
    outcome = archgen_here("evaluate", str(digits_run), "--plot", str(tmp_path / "c.png"), *args)
    assert outcome.code == 1 and outcome.stdout == ""
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert re.search(message, outcome.stderr), outcome.stderr
    assert snapshot(digits_run) == before and not (tmp_path / "c.png").exists()


def test_an_existing_confusion_png_is_kept_unless_forced(digits_run: Path, tmp_path: Path) -> None:
    png = tmp_path / "c.png"
    png.write_bytes(b"mine")
    outcome = archgen_here("evaluate", str(digits_run), "--plot", str(png))
    assert outcome.code == 1 and "exists; pass --force to replace it" in outcome.stderr
    assert png.read_bytes() == b"mine"
