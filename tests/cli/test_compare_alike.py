"""`archgen compare` judges depth only between runs trained alike (the search's rule, one function), says why a pair
was not judged, and shows runs of one spec from several seeds as one row with a 95% interval. Run folders are made
by hand, so the numbers are exact."""

from __future__ import annotations

import json
from pathlib import Path

from in_process import archgen_here

import archgen
from archgen.spec.writer import dump_spec


def run_folder(root: Path, name: str, *, folder: str | None = None, epochs: int = 4, trained: int | None = None,
               lr: float = 0.1, seed: int = 0, train: float = 0.1, val: float = 0.1) -> Path:
    """A finished run of the shipped `name` (its recipe's epochs and lr replaced) whose last epoch has these errors."""
    spec = archgen.load_spec(name)
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": epochs, "lr": lr, "seed": seed})})
    path = root / (folder or f"{name}-{seed}")
    path.mkdir()
    (path / "spec.toml").write_text(dump_spec(spec))
    rows = [{"epoch": epoch, "train_loss": 1.0, "train_error": train, "val_loss": 1.0, "val_error": val, "lr": lr,
             "images_per_second": 1.0, "seconds": 1.0} for epoch in range(1, (trained or epochs) + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    status = "finished" if trained is None else "stopped"
    (path / "summary.json").write_text(json.dumps({"status": status, "train_images": 50_000, "val_images": 10_000}))
    return path


def compare(tmp_path: Path, *runs: Path) -> list[str]:
    result = archgen_here("compare", *map(str, runs), "--plot", str(tmp_path / "c.png"), "--force", "--markdown")
    assert result.code == 0, result.stderr
    return result.stdout.splitlines()


def test_a_deeper_run_at_another_learning_rate_is_not_judged_and_the_table_says_why(tmp_path: Path) -> None:
    deeper = run_folder(tmp_path, "resnet56", lr=0.01, train=0.30, val=0.30)
    shallower = run_folder(tmp_path, "resnet20", train=0.10, val=0.10)
    lines = compare(tmp_path, deeper, shallower)
    assert "| resnet56 | resnet20 | not judged | trained differently: train.lr 0.01 vs 0.1 |" in lines
    assert not any("degrades" in line for line in lines)
    # control: the same numbers at the same learning rate degrade
    (tmp_path / "alike").mkdir()
    alike = run_folder(tmp_path / "alike", "resnet56", train=0.30, val=0.30)
    assert any(line.startswith("| resnet56 | resnet20 | degrades | training error 30.00% vs 10.00%")
               for line in compare(tmp_path, alike, shallower))


def test_a_run_stopped_early_is_not_judged(tmp_path: Path) -> None:
    stopped = run_folder(tmp_path, "resnet56", trained=2, train=0.30, val=0.30)
    shallower = run_folder(tmp_path, "resnet20")
    lines = compare(tmp_path, stopped, shallower)
    assert "| resnet56 | resnet20 | not judged | trained differently: epochs trained 2 vs 4 |" in lines


def test_seeds_of_one_spec_are_one_row_with_an_interval_and_welchs_verdict(tmp_path: Path) -> None:
    runs = [run_folder(tmp_path, "resnet20", seed=seed, val=val) for seed, val in ((0, 0.10), (1, 0.12), (2, 0.14))]
    runs += [run_folder(tmp_path, "resnet56", seed=seed, val=val) for seed, val in ((0, 0.11), (1, 0.13), (2, 0.15))]
    lines = compare(tmp_path, *runs)
    assert lines[0] == "| network | seeds | epochs | train err | train loss | val err | best val | params | MACs |"
    # mean 12% and the t-interval's half width: t(0.975, 2) x 2% / sqrt(3) = 4.97 points
    assert lines[2].startswith("| resnet20 | 3 | 4 | 10.00% ± 0.00 | 1.0000 ± 0.0000 | 12.00% ± 4.97 | ")
    assert lines[3].startswith("| resnet56 | 3 | 4 | ")
    assert any(line.startswith("| resnet56 | resnet20 | same | ") and line.endswith("(Welch's t-test, 3 and 3 seeds) |")
               for line in lines)
