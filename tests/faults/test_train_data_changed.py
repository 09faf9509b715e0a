"""A resume continues on the data it was promised: when the image folder lost images, gained a class or had a
file renamed since the run began, `--resume` refuses in one line naming what changed (data.json), before any
training, touching nothing. It once went on silently "at step 6 of 2", and blamed spec.toml for new classes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_helpers import archgen_here, checkpoints, contents, one_error_line, only_run, write_tiny

pytestmark = pytest.mark.slow  # every test resumes a trained run


def folder(root: Path, *, classes: int = 2, images: int = 20) -> Path:
    generator = np.random.default_rng(0)
    for split, count in (("train", images), ("val", 4)):
        for label in range(classes):
            (root / split / f"c{label}").mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = generator.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / f"c{label}" / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run on an image folder, as if killed in its last epoch, trained once: (run, data folder). Its spec names the
    data folder by its path, so each test gets the folder back as it was there (`interrupted`)."""
    root = tmp_path_factory.mktemp("changed")
    data = folder(root / "data")
    shutil.copytree(data, root / "pristine")
    spec = write_tiny(root)
    assert archgen_here("train", str(spec), "--data", f"imagefolder:{data}", "--out", str(root / "runs")).code == 0
    run = only_run(root / "runs")
    shutil.rmtree(run / "checkpoints" / checkpoints(run)[-1])
    (run / "weights.safetensors").unlink()
    return run, data


@pytest.fixture
def interrupted(trained: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the trained run, and its data folder as the run began: (run, data folder)."""
    run, data = trained
    shutil.rmtree(data)
    shutil.copytree(data.with_name("pristine"), data)
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    return copy, data


def _change(data: Path, how: str) -> str:
    if how == "lost images":
        for path in sorted((data / "train" / "c0").iterdir())[3:]:
            path.unlink()
        return "train images 40 -> 23"
    if how == "a new class":
        folder(data, classes=3)
        return "classes 2 -> 3"
    (data / "train" / "c1" / "0.png").rename(data / "train" / "c1" / "zz.png")
    return "files '48 files"


@pytest.mark.parametrize("how", ["lost images", "a new class", "a renamed file"])
def test_a_resume_on_changed_data_is_refused_naming_the_change(interrupted: tuple[Path, Path], how: str) -> None:
    run, data = interrupted
    named = _change(data, how)
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1
    line = one_error_line(outcome)
    assert line.startswith(f"error: the data of {run} changed since the run began (data.json): ") and named in line
    assert "spec.toml was edited" not in line
    assert contents(run) == before


def test_control_on_the_same_data_the_resume_trains_on(interrupted: tuple[Path, Path]) -> None:
    run, _ = interrupted
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 0, outcome.stderr
    assert (run / "weights.safetensors").is_file()
