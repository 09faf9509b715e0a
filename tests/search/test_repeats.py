"""`[search] repeats = N`: each point trains from N seeds derived from the study's, its objective is their mean, the
trial records every seed's numbers, the report shows mean ± a 95% interval, and the degradation verdicts use Welch's
test over the seeds. A fake trainer whose error depends on the seed makes every number exact."""

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
from archgen.search.record import RESOLVED
from archgen.search.space import REPEAT_STRIDE
from archgen.search.study import resolved_data
from archgen.spec.schema import NetSpec

BASE = TINY[: TINY.index("[search]")]
SPACE = BASE + (
    '[search]\nepochs = 2\npruner = "none"\nsampler = "grid"\n{extra}\n[search.params]\n'
    '"body.depths.*" = {{ choices = [1, 2] }}\n'
)
TRAINED: list[tuple[str, int, bool]] = []


def seeded(spec: NetSpec, *, device: str, listener: Any) -> None:
    """Validation error 10% + 1 point per repeat index (the seed's distance from the trial's first, in strides) + 1
    point per extra block; training error half of it; recorded as (name, seed, residual)."""
    from fakes import FakeMetrics

    TRAINED.append((spec.name, spec.train.seed, spec.body.residual))
    index = spec.train.seed // REPEAT_STRIDE
    error = 0.10 + 0.01 * index + 0.01 * (sum(spec.body.depths or ()) - 2) + (0.0 if spec.body.residual else 0.2)
    for epoch in range(1, spec.train.epochs + 1):
        listener.on_epoch(FakeMetrics(epoch, error, error / 2, error, error, 0.1, 1.0, 0.0))


def config_for(tmp_path: Path, extra: str) -> Any:
    config = make_config(tmp_path, trials=2, trainer=seeded)
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, SPACE.format(extra=extra))))
    return config.__class__(**{**config.__dict__, "spec": spec})


def rendered(results: Any) -> str:
    console = Console(record=True, width=200)
    console.print(final_report(results))
    return console.export_text()


def test_each_point_trains_from_each_seed_and_its_objective_is_their_mean(tmp_path: Path) -> None:
    TRAINED.clear()
    study = optimize(config_for(tmp_path, "repeats = 3")).study
    for trial in study.trials:
        first = trial.user_attrs["seed"]
        seeds = [row["seed"] for row in trial.user_attrs["repeats"]]
        assert seeds == [first, first + REPEAT_STRIDE, first + 2 * REPEAT_STRIDE]
        # the seeds' validation errors are 10, 11, 12% (+1 point a block): the objective is the mean accuracy
        blocks = 2 * trial.params["body.depths.*"] - 2
        assert trial.value == pytest.approx(1 - (0.11 + 0.01 * blocks))
        assert [row["val_error"] for row in trial.user_attrs["repeats"]] == pytest.approx(
            [0.10 + 0.01 * blocks, 0.11 + 0.01 * blocks, 0.12 + 0.01 * blocks])
    assert len(TRAINED) == 6 and [seed for _, seed, _ in TRAINED[:3]] == [0, REPEAT_STRIDE, 2 * REPEAT_STRIDE]
    found = study_results(study)
    row = found.best[0]
    interval = row.accuracy_interval
    assert interval is not None and interval.half_width == pytest.approx(0.02484, abs=1e-4)  # t(2) x 1% / sqrt(3)
    assert "89.00% ± 2.48" in rendered(found)


def test_control_one_seed_records_no_repeats_and_trains_once(tmp_path: Path) -> None:
    TRAINED.clear()
    study = optimize(config_for(tmp_path, "")).study
    assert len(TRAINED) == 2 and all("repeats" not in trial.user_attrs for trial in study.trials)
    assert sorted(trial.value for trial in study.trials) == pytest.approx([0.88, 0.90])
    assert "±" not in rendered(study_results(study))


def test_each_seed_trains_its_plain_twin_and_the_twin_verdict_is_welchs(tmp_path: Path) -> None:
    TRAINED.clear()
    study = optimize(config_for(tmp_path, "repeats = 2\nplain_twin = true")).study
    assert [residual for _, _, residual in TRAINED] == [True, False, True, False] * 2  # point, twin; per seed
    assert [seed for _, seed, _ in TRAINED[:4]] == [0, 0, REPEAT_STRIDE, REPEAT_STRIDE]
    for trial in study.trials:
        blocks = 2 * trial.params["body.depths.*"] - 2
        plain = [row["plain_val_error"] for row in trial.user_attrs["repeats"]]
        assert plain == pytest.approx([0.30 + 0.01 * blocks, 0.31 + 0.01 * blocks])
        assert trial.user_attrs["plain_val_error"] == pytest.approx(0.305 + 0.01 * blocks)
    twins = study_results(study).degradation.twins
    assert all(pair.verdict == "degrades" and pair.reason.endswith("(Welch's t-test, 2 and 2 seeds)")
               for pair in twins)


def hand_made(tmp_path: Path, seeds: dict[int, list[tuple[float, float]]], *, repeats: bool = True) -> optuna.Study:
    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, SPACE.format(extra="repeats = 3"))))
    study = optuna.create_study(study_name="hand", directions=["maximize"])
    study.set_user_attr(RESOLVED, resolved_data(spec))
    for number, (depth, errors) in enumerate(seeds.items()):
        rows = [{"seed": number + index * REPEAT_STRIDE, "train_loss": 1.0, "train_error": train, "val_loss": 1.0,
                 "val_error": val} for index, (train, val) in enumerate(errors)]
        epoch = {"epoch": 1, "train_loss": 1.0, "train_error": errors[0][0], "val_loss": 1.0,
                 "val_error": errors[0][1], "seconds": 1.0}
        attrs = {"outcome": "complete", "seed": number, "history": [epoch], "images": [1000, 500],
                 **({"repeats": rows} if repeats else {})}
        study.add_trial(optuna.trial.create_trial(
            params={"body.depths.*": depth}, value=1 - sum(v for _, v in errors) / 3, user_attrs=attrs,
            distributions={"body.depths.*": optuna.distributions.CategoricalDistribution([1, 2])}))
    return study


def test_the_depth_verdict_over_seeds_is_welchs_and_sees_what_one_seed_cannot(tmp_path: Path) -> None:
    """The deeper point's seeds agree on 2 points more training error (one run's binomial noise over 1000 images is
    about 1.8 points, so one seed each would say "same"); Welch's test over 3 seeds says it degrades."""
    study = hand_made(tmp_path, {1: [(0.050, 0.1), (0.051, 0.1), (0.049, 0.1)],
                                 2: [(0.070, 0.1), (0.071, 0.1), (0.069, 0.1)]})
    [pair] = study_results(study).degradation.depth
    assert pair.verdict == "degrades" and pair.reason.endswith("(Welch's t-test, 3 and 3 seeds)")
    # control: the first seeds alone, as a one-seed study records them, are within the binomial noise
    (tmp_path / "one").mkdir()
    single = hand_made(tmp_path / "one", {1: [(0.050, 0.1)] * 3, 2: [(0.070, 0.1)] * 3}, repeats=False)
    [alone] = study_results(single).degradation.depth
    assert alone.verdict == "same" and alone.reason.endswith("(binomial, one run each)")


@pytest.mark.parametrize("value", ["0", "101", "true"])
def test_repeats_out_of_range_is_refused_at_its_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(archgen.SpecError) as caught:
        archgen.load_spec(write_spec(tmp_path, SPACE.format(extra=f"repeats = {value}")))
    [problem] = caught.value.problems
    assert str(problem).startswith(f"{tmp_path / 'space.toml'}:24: search.repeats: ")
