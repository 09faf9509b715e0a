"""`[search] grow` and `plain_twin`, and the report's degradation verdicts: a grown trial starts where the net it grew
from ended (a random start of the same point is the control); a twin is the point without shortcuts, trained as long
from the same seed; each refusal is one located line; the verdicts come from hand-made trials, so they are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import TINY, make_config, write_spec
from rich.console import Console

import archgen
from archgen.report.search import final_report
from archgen.search import optimize, resolve_spec, study_results
from archgen.search.depth import GROWN, SPEC, WEIGHTS, trial_folder
from archgen.search.record import RESOLVED
from archgen.search.study import resolved_data
from archgen.spec.schema import NetSpec

BASE = TINY[: TINY.index("[search]")]
DEPTHS = BASE + (
    '[search]\nepochs = 3\npruner = "none"\nsampler = "grid"\n{extra}\n[search.params]\n'
    '"body.depths.*" = {{ choices = [1, 3] }}\n'
)


def config_for(tmp_path: Path, text: str, **options: Any) -> Any:
    config = make_config(tmp_path, trials=2, **options)
    return config.__class__(**{**config.__dict__, "spec": resolve_spec(archgen.load_spec(write_spec(tmp_path, text)))})


def first_epochs(study: optuna.Study) -> dict[int, float]:
    """Each trial's depth -> its first epoch's training error."""
    return {t.params["body.depths.*"]: t.user_attrs["history"][0]["train_error"] for t in study.trials}


@pytest.mark.slow
def test_a_deeper_trial_grows_from_the_shallower_and_starts_where_it_ended(tmp_path: Path) -> None:
    (tmp_path / "grown").mkdir()
    (tmp_path / "scratch").mkdir()
    extra = "grow = true\nplain_twin = true"  # the twin and the verdicts through the real trainer too
    grown_config = config_for(tmp_path / "grown", DEPTHS.format(extra=extra), trainer=None, seed=1)
    grown = optimize(grown_config).study
    order = [t.params["body.depths.*"] for t in grown.trials]
    assert order == [1, 3], "seed 1 puts the shallow point first (the grid's order is the seed's)"
    shallow, deep = grown.trials
    assert deep.user_attrs["grown_from"] == 0 and "grown_from" not in shallow.user_attrs
    for trial in grown.trials:  # every trained trial keeps its weights and the spec they fit
        assert (trial_folder(grown_config.out, trial.number) / WEIGHTS).is_file()
        assert (trial_folder(grown_config.out, trial.number) / SPEC).is_file()
    assert (trial_folder(grown_config.out, 1) / GROWN).is_file()
    # control: the same search without grow trains the deep point from random weights, from the same seed
    scratch = optimize(config_for(tmp_path / "scratch", DEPTHS.format(extra=""), trainer=None, seed=1)).study
    assert all("grown_from" not in t.user_attrs for t in scratch.trials)
    ended = shallow.user_attrs["history"][-1]["train_error"]
    grown_first, scratch_first = first_epochs(grown)[3], first_epochs(scratch)[3]
    assert grown_first < scratch_first - 0.2, (grown_first, scratch_first)
    assert grown_first < ended + 0.1, (grown_first, ended)  # it starts as the shallow net and trains on from there
    found = study_results(grown)
    assert all(isinstance(t.user_attrs["plain_train_error"], float) for t in grown.trials)
    assert [p.deeper.label for p in found.degradation.depth] == ["trial 1 (grown from 0)"]
    assert [p.deeper.label for p in found.degradation.twins] == ["trial 0 plain", "trial 1 plain"]
    text = rendered(found)
    assert "grown from" in text and "deeper vs shallower" in text


def test_each_point_trains_its_plain_twin_after_it(tmp_path: Path) -> None:
    trained: list[NetSpec] = []

    def recording(spec: NetSpec, *, device: str, listener: Any) -> None:
        from fakes import error_of, fake_train

        trained.append(spec)
        fake_train(spec, device=device, listener=listener)
        assert error_of(spec, spec.train.epochs) >= 0

    study = optimize(config_for(tmp_path, DEPTHS.format(extra="plain_twin = true"), trainer=recording)).study
    assert [spec.body.residual for spec in trained] == [True, False, True, False]  # each point, then its twin
    for point, twin in zip(trained[::2], trained[1::2], strict=True):
        assert twin.name == f"{point.name}-plain"
        assert (twin.train.epochs, twin.train.seed) == (point.train.epochs, point.train.seed)
        assert twin.model_dump(exclude={"name", "body"}) == point.model_dump(exclude={"name", "body"})
        assert twin.body.depths == point.body.depths
    from fakes import error_of

    for trial, twin in zip(study.trials, trained[1::2], strict=True):
        expected = error_of(twin, twin.train.epochs)
        assert trial.user_attrs["plain_train_error"] == trial.user_attrs["plain_val_error"] == expected
        assert trial.state.name == "COMPLETE"
    (tmp_path / "control").mkdir()
    trained.clear()
    control = optimize(config_for(tmp_path / "control", DEPTHS.format(extra=""), trainer=recording)).study
    assert all(spec.body.residual for spec in trained) and len(trained) == 2
    assert all("plain_train_error" not in t.user_attrs for t in control.trials)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(write_spec(tmp_path, text))
    return [str(problem) for problem in caught.value.problems]


NO_DEPTH = BASE + '[search]\n{extra}\n[search.params]\n"body.width" = {{ choices = [4, 8] }}\n'


def test_grow_without_depth_and_a_twin_of_plain_nets_are_refused_at_their_keys(tmp_path: Path) -> None:
    space = tmp_path / "space.toml"
    assert problems(tmp_path, NO_DEPTH.format(extra="grow = true")) == [
        f"{space}:21: search.grow: grows deeper trials from shallower ones, but this space varies no depth "
        "(vary body.depths.N or body.stages.N.depth)"
    ]
    plain = NO_DEPTH.replace("width = 8\n[train]", "width = 8\nresidual = false\n[train]")
    assert problems(tmp_path, plain.format(extra="plain_twin = true")) == [
        f"{space}:22: search.plain_twin: every net of this space is plain already (body.residual = false, not "
        "searched): there is no residual net to train a plain twin of"
    ]
    # controls: a space that varies depth may grow; a plain base whose residual is searched has residual points
    archgen.load_spec(write_spec(tmp_path, DEPTHS.format(extra="grow = true")))
    searched = plain.format(extra="plain_twin = true") + '"body.residual" = { choices = [false, true] }\n'
    archgen.load_spec(write_spec(tmp_path, searched))


# --- the verdicts, from hand-made trials -------------------------------------------------------------------------


def hand_made(tmp_path: Path, *, images: bool = True) -> optuna.Study:
    """Depth 1: 5% training, 10% validation error (its plain twin: 30%, 32%); depth 2 better on both; depth 3 worse in
    training. 1000 training and 500 validation images each: two standard errors are at most about 4 points."""
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, DEPTHS.format(extra="plain_twin = true"))))
    study = optuna.create_study(study_name="hand", directions=["maximize"])
    study.set_user_attr(RESOLVED, resolved_data(spec))
    made = {1: (0.05, 0.10, {"plain_train_error": 0.30, "plain_val_error": 0.32}), 2: (0.02, 0.06, {}),
            3: (0.30, 0.35, {"plain_train_error": 0.31, "plain_val_error": 0.35})}
    for number, (depth, (train, val, twin)) in enumerate(made.items()):
        epoch = {"epoch": 1, "train_loss": 1.0, "train_error": train, "val_loss": 1.0, "val_error": val, "seconds": 1.0}
        attrs = {"outcome": "complete", "seed": number, "history": [epoch], **twin,
                 **({"images": [1000, 500]} if images else {})}
        study.add_trial(optuna.trial.create_trial(
            params={"body.depths.*": depth}, value=1 - val, user_attrs=attrs,
            distributions={"body.depths.*": optuna.distributions.CategoricalDistribution([1, 2, 3])}))
    return study


def rendered(results: Any) -> str:
    console = Console(record=True, width=160)
    console.print(final_report(results))
    return console.export_text()


def test_the_report_says_which_deeper_trial_degrades_and_which_plain_twin_does(tmp_path: Path) -> None:
    found = study_results(hand_made(tmp_path))
    depth = {(p.deeper.label, p.shallower.label): p.verdict for p in found.degradation.depth}
    assert depth == {("trial 1", "trial 0"): "improves", ("trial 2", "trial 0"): "degrades",
                     ("trial 2", "trial 1"): "degrades"}
    twins = {p.deeper.label: p.verdict for p in found.degradation.twins}
    assert twins == {"trial 0 plain": "degrades", "trial 2 plain": "same"}  # 31% vs 30%: within noise
    text = rendered(found)
    assert "deeper vs shallower" in text and "plain twin vs residual, at equal depth" in text
    lines = [line.split() for line in text.splitlines()]
    assert ["trial", "2", "trial", "0", "degrades", "training", "error", "30.00%", "vs", "5.00%;", "validation",
            "error", "35.00%", "vs", "10.00%", "(binomial,", "one", "run", "each)"] in lines
    assert ["trial", "1", "trial", "0", "improves", "training", "error", "2.00%", "vs", "5.00%;", "validation",
            "error", "6.00%", "vs", "10.00%", "(binomial,", "one", "run", "each)"] in lines
    assert ["trial", "0", "plain", "trial", "0", "degrades", "training", "error", "30.00%", "vs", "5.00%;",
            "validation", "error", "32.00%", "vs", "10.00%", "(binomial,", "one", "run", "each)"] in lines
    # control: trials that did not record the images their errors were measured on are not judged
    (tmp_path / "bare").mkdir()
    bare = study_results(hand_made(tmp_path / "bare", images=False))
    assert bare.degradation.depth == () and bare.degradation.twins == ()
    assert "deeper vs shallower" not in rendered(bare)


def test_only_trials_trained_alike_are_judged_against_each_other(tmp_path: Path) -> None:
    """A deeper trial at another learning rate says nothing of depth: it is not paired (the control, a deeper trial
    at the same rate, is)."""
    text = DEPTHS.format(extra="") + '"train.lr" = { choices = [0.1, 0.01] }\n'
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, text)))
    study = optuna.create_study(study_name="rates", directions=["maximize"])
    study.set_user_attr(RESOLVED, resolved_data(spec))
    distributions = {"body.depths.*": optuna.distributions.CategoricalDistribution([1, 3]),
                     "train.lr": optuna.distributions.CategoricalDistribution([0.1, 0.01])}
    for number, (depth, lr, train) in enumerate([(1, 0.1, 0.05), (3, 0.01, 0.40), (3, 0.1, 0.30)]):
        epoch = {"epoch": 1, "train_loss": 1.0, "train_error": train, "val_loss": 1.0, "val_error": train,
                 "seconds": 1.0}
        study.add_trial(optuna.trial.create_trial(
            params={"body.depths.*": depth, "train.lr": lr}, value=1 - train, distributions=distributions,
            user_attrs={"outcome": "complete", "seed": number, "history": [epoch], "images": [1000, 500]}))
    found = study_results(study).degradation
    pairs = {(p.deeper.label, p.shallower.label): p.verdict for p in found.depth}
    assert pairs == {("trial 2", "trial 0"): "degrades"}
    skipped = {(p.deeper.label, p.shallower.label): p.reason for p in found.unjudged}
    assert skipped == {("trial 1", "trial 0"): "trained differently: train.lr 0.01 vs 0.1"}
    assert "not judged: 1 deeper-vs-shallower pair of trials that trained differently (train.lr)" in \
        rendered(study_results(study))
