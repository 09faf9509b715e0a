"""One trial, passed along rather than re-read: its cost analysed once (budget, constraints, objectives), its spec
made once (epochs and seed written in, trained as is, written back as the winner), its epochs in TensorBoard, its
final training error in the report. Fake trainers; the study comes back from the search itself.
"""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import TINY, make_config
from rich.console import Console

import archgen.search.trial
from archgen import load_spec
from archgen.report.search import final_report
from archgen.search import optimize, resolve_spec, study_results, winner_files
from archgen.search.trial import TrialListener
from archgen.spec.loader import parse_spec
from archgen.spec.schema import NetSpec
from archgen.training import EpochMetrics, Listener, RunPlan, StepProgress


@pytest.fixture(autouse=True)
def _fake_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(tmp_path / "trained.jsonl"))


def with_spec(config: Any, text: str, folder: Path) -> Any:
    (folder / "space.toml").write_text(text)
    return config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(folder / "space.toml"))})


def test_a_trials_cost_is_analysed_once_for_budget_constraints_and_objectives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysed: list[str] = []
    analyze = archgen.search.trial.analyze

    def counting(spec: NetSpec) -> Any:
        analysed.append(spec.name)
        return analyze(spec)

    monkeypatch.setattr(archgen.search.trial, "analyze", counting)
    text = TINY.replace('pruner = "none"', 'pruner = "none"\nmax_params = 10000\nobjectives = ["accuracy", "params", '
                                           '"macs"]')
    done = optimize(with_spec(make_config(tmp_path, trials=6), text, tmp_path))
    trials = done.study.trials  # the search's own study, not one reopened by name
    costed = [t for t in trials if "params" in t.user_attrs]
    assert len(analysed) == len(costed) == len(set(analysed))  # once per costed trial
    over = [t for t in costed if t.user_attrs["params"] > 10_000]
    assert over and all(t.constraints["max_params"] > 0 for t in over)  # infeasible by the same cost
    assert all(t.constraints["max_params"] <= 0 for t in costed if t not in over)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 6
    assert all(t.values[1:] == [t.user_attrs["params"], t.user_attrs["macs"]] for t in complete)


def test_the_trained_spec_carries_epochs_and_seed_and_comes_back_as_the_winner(tmp_path: Path) -> None:
    trained: dict[str, NetSpec] = {}

    def recording(spec: NetSpec, *, device: str, listener: Any) -> None:
        from fakes import fake_train

        trained[spec.name] = spec
        fake_train(spec, device=device, listener=listener)

    config = make_config(tmp_path, trials=3, seed=7, trainer=recording)
    done = optimize(config)
    numbers = {t.number: t for t in done.study.trials}
    for name, spec in trained.items():
        number = int(name.rsplit("trial", 1)[1])
        assert spec.train.epochs == config.space.epochs == 2  # search.epochs, written into the trial's spec
        assert spec.train.seed == config.spec.train.seed + 7 + number == numbers[number].user_attrs["seed"]
        assert spec.train.data == config.spec.train.data
    found = study_results(done.study)
    winner = parse_spec(tomllib.loads(winner_files(done.study, found.best)["best.toml"].decode()))
    number = found.best[0].number
    same = {"name", "description"}
    assert winner.model_dump(exclude=same) == trained[f"tiny-search-trial{number}"].model_dump(exclude=same)


def test_each_trained_trial_writes_its_epochs_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    text = TINY.replace('pruner = "none"', 'pruner = "none"\nmax_params = 10000')
    config = with_spec(make_config(tmp_path, trials=3), text, tmp_path)
    trials = optimize(config).study.trials
    trained = {t.number for t in trials if "history" in t.user_attrs}
    rejected = {t.number for t in trials} - trained
    assert rejected, "the budget rejects some points (the control: no events for them)"
    folders = {int(path.name.removeprefix("trial-")) for path in (config.out / "tensorboard").iterdir()}
    assert folders == trained
    events = EventAccumulator(str(config.out / "tensorboard" / f"trial-{min(trained)}"))
    events.Reload()
    errors = [event.value for event in events.Scalars("error/val")]
    history = trials[min(trained)].user_attrs["history"]
    assert errors == pytest.approx([100 * row["val_error"] for row in history], rel=1e-6)


class Recording(Listener):
    """A board that records which events reached it."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    def on_start(self, plan: RunPlan) -> None:
        self.heard.append("on_start")

    def on_progress(self, progress: StepProgress) -> None:
        self.heard.append("on_progress")

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.heard.append("on_epoch")

    def on_note(self, note: str) -> None:
        self.heard.append("on_note")

    def on_trained(self, model: Any) -> None:
        self.heard.append("on_trained")


def every_event(listener: Listener, spec: NetSpec) -> None:
    """Each event a training tells its Listener, once."""
    listener.on_start(RunPlan(spec=spec, data="synthetic", train_images=10, val_images=5, image_shape=(1, 8, 8),
                              classes=10, device="cpu", world=1, batch_size=4, steps_per_epoch=3, params=1, macs=1,
                              run_dir=None))
    listener.on_progress(StepProgress(epoch=1, step=1, steps=3, loss=1.0, error=0.5, images_per_second=1.0))
    listener.on_note("a note")
    listener.on_epoch(EpochMetrics(epoch=1, train_loss=1.0, train_error=0.5, val_loss=1.0, val_error=0.5, lr=0.1,
                                   images_per_second=1.0, seconds=1.0))
    listener.on_trained(None)  # type: ignore[arg-type]


def test_the_trial_listener_is_a_listener_that_hands_every_event_to_its_board(tmp_path: Path) -> None:
    """Each method of `archgen.training.Listener` is the trial listener's own and reaches the board (TensorBoard in a
    search), with the trial recording what it needs beside. Control: the board heard nothing it was not told."""
    config = make_config(tmp_path, trials=1)
    methods = {name for name, _ in inspect.getmembers(Listener, inspect.isfunction) if not name.startswith("_")}
    assert {"on_start", "on_progress", "on_epoch", "on_note", "on_trained"} <= methods
    assert methods <= set(vars(TrialListener)), "a Listener method TrialListener does not hand to its board"
    board = Recording()
    trial = optuna.create_study().ask()
    listener = TrialListener(trial, config.space, board)
    assert isinstance(listener, Listener) and board.heard == []
    every_event(listener, config.spec)
    assert sorted(board.heard) == sorted(methods)
    assert trial.user_attrs["images"] == [10, 5] and len(trial.user_attrs["history"]) == 1


GRID = TINY[: TINY.index("[search]")] + (
    '[search]\nepochs = 1\npruner = "none"\nsampler = "grid"\n[search.params]\n'
    '"body.residual" = { choices = [false, true] }\n"body.depths.*" = { choices = [1, 2] }\n'
)


def rendered(results: Any) -> str:
    console = Console(record=True, width=120)
    console.print(final_report(results))
    return console.export_text()


def test_rows_carry_the_final_training_error_and_plain_against_residual_shows_it(tmp_path: Path) -> None:
    grid = optimize(with_spec(make_config(tmp_path, trials=4), GRID, tmp_path)).study
    found = study_results(grid)
    assert all(row.train_error == row.history[-1]["train_error"] for row in found.rows)
    text = rendered(found)
    assert "train error" in text and f"{found.progress.leaderboard[0].train_error:.2%}" in text
    (tmp_path / "plain").mkdir()
    plain = optimize(make_config(tmp_path / "plain", trials=2)).study  # control: a space without body.residual
    assert "train error" not in rendered(study_results(plain))
