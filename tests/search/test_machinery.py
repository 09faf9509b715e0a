"""The search machinery with a fake trainer: budgets, exact trial counts, resuming, failures, stale workers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_config, share_among

from archgen.errors import SearchError
from archgen.search import open_study, optimize
from archgen.search import record as outcome
from archgen.search.study import create_or_resume


def outcomes(config) -> Counter[str]:  # type: ignore[no-untyped-def]
    return Counter(outcome.outcome(trial) for trial in open_study(config).trials)


def trained(log: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(path))
    return path


def test_over_budget_points_are_recorded_and_never_trained(tmp_path: Path, log: Path) -> None:
    config = make_config(tmp_path, trials=12, seed=3)
    budget = 10_000  # 42 of the 128 points fit
    spec_text = (
        (tmp_path / "space.toml").read_text().replace('pruner = "none"', f'pruner = "none"\nmax_params = {budget}')
    )
    (tmp_path / "space.toml").write_text(spec_text)
    from archgen import load_spec
    from archgen.search import resolve_spec

    config = config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(tmp_path / "space.toml"))})
    optimize(config)
    trials = open_study(config).trials
    rejected = [t for t in trials if outcome.outcome(t) == "over_budget"]
    assert rejected, "the space has over-budget points; some must have been proposed"
    assert all(t.user_attrs["params"] > budget and "over budget" in t.user_attrs["reason"] for t in rejected)
    assert all(t.user_attrs.get("history") is None for t in rejected)
    calls = trained(log)
    assert len(calls) == 12 and all(call["params"] <= budget for call in calls)  # the trainer never saw one


def test_exact_trials_and_resume_with_more(tmp_path: Path, log: Path) -> None:
    config = make_config(tmp_path, trials=5)
    assert optimize(config).verdict == "done"
    assert outcomes(config)["complete"] == 5
    again = make_config(tmp_path, trials=8)  # the same command with a higher target resumes
    optimize(again)
    assert outcomes(again)["complete"] == 8 and len(trained(log)) == 8


def test_a_changed_spec_is_refused_naming_the_change(tmp_path: Path, log: Path) -> None:
    optimize(make_config(tmp_path, trials=2))
    changed = make_config(tmp_path, trials=2, extra='"head.dropout" = { choices = [0.0, 0.5] }\n')
    with pytest.raises(SearchError) as caught:
        optimize(changed)
    message = str(caught.value)
    assert "study 'tiny' searched a different spec, so it cannot be resumed" in message
    assert "search.params.head.dropout added" in message and "\n" not in message


def test_the_same_spec_resumes_with_no_new_trial_when_done(tmp_path: Path, log: Path) -> None:
    optimize(make_config(tmp_path, trials=3))
    optimize(make_config(tmp_path, trials=3))
    assert len(trained(log)) == 3


def test_nan_trials_fail_with_their_reason_and_the_study_carries_on(tmp_path: Path, log: Path) -> None:
    from fakes import nan_when_fast

    config = make_config(tmp_path, trials=6, trainer=nan_when_fast)
    spec_text = (tmp_path / "space.toml").read_text().replace("[0.05, 0.1]", "[0.05, 0.5]")
    (tmp_path / "space.toml").write_text(spec_text)
    from archgen import load_spec
    from archgen.search import resolve_spec

    config = config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(tmp_path / "space.toml"))})
    assert optimize(config).verdict == "done"
    trials = open_study(config).trials
    failed = [t for t in trials if outcome.outcome(t) == "failed"]
    assert failed and all("NonFiniteLoss: loss became nan" in t.user_attrs["reason"] for t in failed)
    assert sum(outcome.counts(t) for t in trials) == 6


def test_an_unexpected_error_stops_the_search_with_one_line(tmp_path: Path, log: Path) -> None:
    from fakes import broken

    config = make_config(tmp_path, trials=3, trainer=broken)
    with pytest.raises(SearchError) as caught:
        optimize(config)
    assert str(caught.value) == (
        "trial 0 stopped the search with an unexpected error: ZeroDivisionError: division by zero in a trainer"
    )
    assert outcomes(config) == Counter({"failed": 1})  # told FAIL, not left RUNNING


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
def test_workers_finish_exactly_n_trials_without_duplicates(
    tmp_path: Path, log: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHGEN_FAKE_SLEEP", "0.05")
    share_among(workers, tmp_path, monkeypatch)
    config = make_config(tmp_path, trials=10, workers=workers)
    assert optimize(config).verdict == "done"
    trials = open_study(config).trials
    counted = [t for t in trials if outcome.counts(t)]
    assert len(counted) == 10
    assert len({outcome.point_key(t) for t in counted}) == 10  # 128 points: no two trained alike
    assert len({call["pid"] for call in trained(log)}) == workers  # every worker trained
    assert len(trained(log)) == 10


def test_a_latency_objective_times_each_trained_trial_on_the_search_device(tmp_path: Path, log: Path) -> None:
    config = make_config(tmp_path, trials=2)
    space = config.space.model_copy(update={"objectives": ("accuracy", "latency")})
    config = config.__class__(**{**config.__dict__, "spec": config.spec.model_copy(update={"search": space})})
    assert optimize(config).verdict == "done"
    complete = [t for t in open_study(config).trials if outcome.outcome(t) == "complete"]
    assert len(complete) == 2
    assert all(len(t.values) == 2 and t.values[1] == t.user_attrs[outcome.LATENCY] > 0 for t in complete)


def test_resume_needs_the_same_objectives(tmp_path: Path, log: Path) -> None:
    config = make_config(tmp_path, trials=1)
    optimize(config)
    two = make_config(tmp_path, trials=1, extra="")
    spec = two.spec.model_copy(update={"search": two.space.model_copy(update={"objectives": ("accuracy", "params")})})
    with pytest.raises(SearchError, match=r"search.objectives: \[\"accuracy\"\] -> \[\"accuracy\", \"params\"\]"):
        create_or_resume(two.storage, "tiny", spec)



def test_a_grid_trains_each_point_exactly_once(tmp_path: Path, log: Path) -> None:
    """Each trial gets a fresh sampler; a grid id must name the same point in all of them (no re-proposals)."""
    from conftest import TINY

    from archgen import load_spec
    from archgen.search import resolve_spec

    grid = TINY[: TINY.index("[search]")] + (
        '[search]\nepochs = 1\npruner = "none"\nsampler = "grid"\n[search.params]\n'
        '"body.residual" = { choices = [false, true] }\n"body.depths.*" = { choices = [1, 2] }\n'
    )
    config = make_config(tmp_path, trials=4)
    (tmp_path / "space.toml").write_text(grid)
    config = config.__class__(**{**config.__dict__, "spec": resolve_spec(load_spec(tmp_path / "space.toml"))})
    assert optimize(config).verdict == "done"
    assert outcomes(config) == Counter({"complete": 4})  # nothing re-proposed and rejected as a duplicate
    assert len({call["params"] for call in trained(log)}) == 4  # plain/residual x 1/2 blocks: four networks


@pytest.mark.parametrize("when", ["before training", "while training"])
def test_a_trial_failed_as_stale_by_another_worker_is_dropped_not_the_worker(tmp_path: Path, when: str) -> None:
    """A reaper that misjudged this worker's trial stale failed it; every write after that raises in Optuna. The
    worker drops the trial (the reaper queued its point again) and goes on; the reaper's verdict stays."""
    from fakes import fake_train

    from archgen.search.claim import claim_next
    from archgen.search.optuna_internals import fail_trial
    from archgen.search.trial import settle

    def judged_stale(study, claim):  # type: ignore[no-untyped-def]
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == claim.trial.number)
        assert fail_trial(study, frozen, {outcome.OUTCOME: "failed", outcome.REASON: "stale: judged by another"})

    def reaped_mid_training(spec, *, device, listener):  # type: ignore[no-untyped-def]
        judged_stale(study, claim)
        fake_train(spec, device=device, listener=listener)

    config = make_config(tmp_path, trials=2, trainer=reaped_mid_training if when == "while training" else fake_train)
    study = open_study(config)
    claim = claim_next(study, config, deadline=None)
    assert not isinstance(claim, str)
    if when == "before training":
        judged_stale(study, claim)
    report = settle(study, claim, config)
    assert report.outcome == "failed" and "failed as stale by another worker" in report.reason
    trial = open_study(config).trials[claim.trial.number]
    assert trial.state.name == "FAIL" and trial.user_attrs[outcome.REASON] == "stale: judged by another"
