"""Every bad input of `archgen predict` and `archgen evaluate` is one located line on stderr and exit 1, and the run
folder is left exactly as it was: images that are no images, FIFOs, empty folders, decompression bombs; runs with no
weights, no preprocessing record or an edited one; --top 0. A run still training is read, said so, never blocked.
Fast: the runs are made by hand (`made_run`), not trained."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from in_process import archgen_here
from pictures import picture, snapshot, val_files
from PIL import Image
from safetensors.torch import load_file, save_file

from archgen.training import RunFolder
from archgen.training.preprocessing import read_record


def refused(run: Path, *args: str, message: str, command: str = "predict") -> None:
    """`archgen COMMAND RUN ARGS` exits 1 with one line matching `message`, prints nothing else, changes nothing."""
    before = snapshot(run)
    outcome = archgen_here(command, str(run), *args)
    assert outcome.code == 1, outcome
    assert outcome.stdout == "" and len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert re.search(message, outcome.stderr), outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert snapshot(run) == before


def test_a_file_that_is_not_an_image(made_run: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    refused(made_run, str(tmp_path / "notes.png"), message=r"^error: .*notes.png: not an image archgen can read")


def test_a_fifo_named_like_an_image_never_blocks(made_run: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    refused(made_run, str(tmp_path / "pipe.jpg"), message=r"pipe.jpg: not a regular file")


def test_a_folder_without_images(made_run: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    refused(made_run, str(tmp_path / "empty"), message=r"empty: no images \(expected files ending in .jpg")


def test_a_missing_image(made_run: Path, tmp_path: Path) -> None:
    refused(made_run, str(tmp_path / "gone.jpg"), message=r"gone.jpg: no such file or folder")


@pytest.mark.parametrize("side", [12, 16])  # PIL warns past its limit, and refuses past twice it: both refused
def test_a_decompression_bomb(side: int, made_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    picture((side, side), shade=0).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    refused(made_run, str(tmp_path / "bomb.png"), message=r"bomb.png: refused as a possible decompression bomb")


def test_top_zero(made_run: Path, jpeg_folder: Path) -> None:
    refused(made_run, str(val_files(jpeg_folder)[0]), "--top", "0", message=r"^error: --top: must be at least 1, got 0")


def test_not_a_run_folder(tmp_path: Path, jpeg_folder: Path) -> None:
    image = str(val_files(jpeg_folder)[0])
    refused(tmp_path, image, message=r"not a run folder \(no spec.toml")
    outcome = archgen_here("predict", str(tmp_path / "nowhere"), image)
    assert outcome.code == 1 and outcome.stderr.strip().endswith("nowhere: no such run folder")


def test_a_run_with_no_weights(made_run: Path, jpeg_folder: Path) -> None:
    run = made_run
    (run / "weights.safetensors").unlink()
    shutil.rmtree(run / "checkpoints")
    refused(run, str(val_files(jpeg_folder)[0]), message=r"no weights yet: no weights.safetensors and no good "
            r"checkpoint; train the run, or wait for its first checkpoint")
    refused(run, message=r"no weights yet", command="evaluate")


def test_a_run_still_training_is_read_and_said_so(made_run: Path, jpeg_folder: Path) -> None:
    """No final weights yet: the newest checkpoint, with a note; the trainer's lock is held and never waited for."""
    run = made_run
    (run / "weights.safetensors").unlink()
    before = snapshot(run)
    with RunFolder(run):  # as a training process holds it
        outcome = archgen_here("predict", str(run), str(val_files(jpeg_folder)[0]))
        evaluation = archgen_here("evaluate", str(run), "--json", "--plot", str(run.parent / "c.png"))
    assert outcome.code == 0, outcome.stderr
    assert "has no weights.safetensors (still training, stopped or killed): using its newest checkpoint, " \
           "step-" in outcome.stdout
    assert evaluation.code == 0 and json.loads(evaluation.stdout)["images"] == 12
    assert "step-000000003" in json.loads(evaluation.stdout)["notes"][0]
    assert {name: value for name, value in snapshot(run).items() if name != ".lock"} == \
        {name: value for name, value in before.items() if name != ".lock"}


def without_record(run: Path) -> None:
    """A run as archgen wrote them before this record: no preprocessing.json, no copy in the weights."""
    (run / "preprocessing.json").unlink()
    save_file(load_file(run / "weights.safetensors"), run / "weights.safetensors")


def test_a_run_without_a_record_says_how_to_get_one(made_run: Path, jpeg_folder: Path,
                                                    tmp_path: Path) -> None:
    run = made_run
    original = archgen_here("predict", str(run), str(val_files(jpeg_folder)[0])).stdout
    original_record = (run / "preprocessing.json").read_text()
    without_record(run)
    image = str(val_files(jpeg_folder)[0])
    refused(run, image, message=r"no preprocessing record \(preprocessing.json\): the run was trained before archgen "
            r"recorded one; retrain it \(archgen train .*spec.toml\), or pass the values as a file: --preprocessing")
    mine = tmp_path / "mine.json"
    record = json.loads(original_record)
    del record["sha256"], record["steps"]  # what a person writes by hand
    mine.write_text(json.dumps(record))
    outcome = archgen_here("predict", str(run), image, "--preprocessing", str(mine))
    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout == original


def test_a_record_edited_by_hand(made_run: Path, jpeg_folder: Path) -> None:
    run = made_run
    record = json.loads((run / "preprocessing.json").read_text())
    record["std"] = [0.5, 0.5, 0.5]
    (run / "preprocessing.json").write_text(json.dumps(record))
    refused(run, str(val_files(jpeg_folder)[0]), message=r"preprocessing.json: edited after the run wrote it")
    refused(run, message=r"preprocessing.json: edited after the run wrote it", command="evaluate")


def test_a_record_resealed_but_not_the_weights_copy(made_run: Path, jpeg_folder: Path) -> None:
    run = made_run
    record = read_record(run / "preprocessing.json")
    (run / "preprocessing.json").write_text(record.model_copy(update={"mean": (0.5, 0.5, 0.5)}).dumps())
    refused(run, str(val_files(jpeg_folder)[0]),
            message=r"differs from the copy in the metadata of weights.safetensors")


def test_a_record_that_does_not_fit_the_network(made_run: Path, jpeg_folder: Path,
                                                tmp_path: Path) -> None:
    record = read_record(made_run / "preprocessing.json")
    mine = tmp_path / "grey.json"
    mine.write_text(record.model_copy(update={"channels": 1, "mean": (0.5,), "std": (0.2,)}).dumps())
    refused(made_run, str(val_files(jpeg_folder)[0]), "--preprocessing", str(mine),
            message=r"the preprocessing record does not fit the network of its spec.toml: channels 1 \(the spec: 3\)")
