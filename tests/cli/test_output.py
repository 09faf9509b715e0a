"""Readable anywhere: piped or logged, `train` prints a line for every epoch (a terminal gets every k-th and a bar);
tables never cut a value (they fold it, at any width); resumes count epochs as stops do."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

import archgen
from archgen.report.curves import curves_png
from archgen.report.search import stale_plots, trials_table
from archgen.report.train import TrainDisplay, ordinal, plan_text
from archgen.search import TrialRow
from archgen.training import EpochMetrics, RunPlan


def _plan(epochs: int, *, start_epoch: int = 0, start_step: int = 0) -> RunPlan:
    spec = archgen.load_spec("digits-resnet20")
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"epochs": epochs})})
    return RunPlan(spec=spec, data="digits", train_images=1437, val_images=360, image_shape=(1, 8, 8), classes=10,
                   device="cpu", world=1, batch_size=64, steps_per_epoch=23, params=269434, macs=2516608,
                   run_dir=Path("runs/x"), start_epoch=start_epoch, start_step=start_step)


def _shown(console: Console, epochs: int) -> str:
    with TrainDisplay(console) as display:
        display.on_start(_plan(epochs))
        for epoch in range(1, epochs + 1):
            display.on_epoch(EpochMetrics(epoch, 1.0, 0.5, 1.0, 0.5, 0.1, 1000.0, 0.5))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_piped_every_epoch_has_its_line() -> None:
    text = _shown(Console(file=io.StringIO(), width=120), 45)
    assert [line.split()[0] for line in text.splitlines() if "/45" in line] == [f"{n}/45" for n in range(1, 46)]
    assert "every" not in text


def test_on_a_terminal_every_kth_epoch_said_in_english() -> None:
    text = _shown(Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None), 45)
    assert "every 3rd epoch below" in text
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 102, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "102nd", "111th"]


def test_a_resume_counts_epochs_as_the_stop_did() -> None:
    console = Console(file=io.StringIO(), width=120)
    console.print(plan_text(_plan(10, start_epoch=6, start_step=12)))  # stopped "at epoch 7, step 12 of 23"
    console.print(plan_text(_plan(10, start_epoch=6)))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "resuming at epoch 7, step 12 of 23" in text and "resuming after epoch 6" in text


def test_a_table_folds_a_long_value_rather_than_cutting_it() -> None:
    row = TrialRow(number=7, outcome="complete", point={"train.lr": 0.0123456, "train.weight_decay": 0.000512},
                   accuracy=0.9722, params=40_400, macs=390_500, epochs=3, architecture="basic [2,1,2] w8 B")
    for width in (50, 80, 200):
        console = Console(file=io.StringIO(), width=width, record=True)
        console.print(trials_table([row], title="top trials"))
        lines = console.export_text().splitlines()
        assert not any("…" in line for line in lines)
        column = next(line.index("other") for line in lines if "other" in line)  # the last column, read down
        body = lines[next(index for index, line in enumerate(lines) if "──" in line) + 1:]
        assert "".join("".join(line[column:].split()) for line in body) == \
            "train.lr=0.0123train.weight_decay=0.000512", width
    assert "train.lr=0.0123 train.weight_decay=0.000512" in "\n".join(lines)  # wide enough: on one line


def test_plots_not_redrawn_are_listed_as_stale(tmp_path: Path) -> None:
    for name in ("curves.png", "history.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"from an earlier report")
    assert stale_plots(tmp_path, drawn={"history.png": b"new"}) == [tmp_path / "curves.png"]


def test_a_one_epoch_run_draws_its_points(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.axes

    drawn: list[dict[str, object]] = []
    plot = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda self, *a, **k: (drawn.append(k), plot(self, *a, **k))[1])
    one = [EpochMetrics(1, 1.0, 0.5, 1.0, 0.4, 0.1, 1000.0, 0.5)]
    assert curves_png([("net", one)])[:4] == b"\x89PNG"
    assert [k.get("marker") for k in drawn if k.get("color") != "grey"] == ["o", "o"]  # training and validation
    drawn.clear()
    curves_png([("net", one * 2)])  # control: two epochs are a line
    assert all(k.get("marker") is None for k in drawn)
