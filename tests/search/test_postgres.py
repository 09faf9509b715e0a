"""The multi-machine path: workers sharing one study in a real PostgreSQL server the tests start themselves."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from conftest import make_config, share_among

from archgen.errors import SearchError
from archgen.search import open_study, optimize
from archgen.search import record as outcome

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(path))
    monkeypatch.setenv("ARCHGEN_FAKE_SLEEP", "0.05")
    return path


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_one_postgres_study_exactly(
    tmp_path: Path, postgres_url: str, log: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    share_among(workers, tmp_path, monkeypatch)
    study = f"pg-exact-{workers}"
    config = make_config(tmp_path, trials=10, storage=postgres_url, workers=workers, study=study)
    assert optimize(config).verdict == "done"
    trials = open_study(config).trials
    counted = [t for t in trials if outcome.counts(t)]
    assert len(counted) == 10 and len({outcome.point_key(t) for t in counted}) == 10
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(calls) == 10 and len({call["pid"] for call in calls}) == workers
    # optuna-dashboard reads the same URL with Optuna's own storage: the study is there as is
    loaded = optuna.load_study(study_name=study, storage=postgres_url)
    assert len(loaded.trials) == len(trials)


def test_a_changed_spec_is_refused_on_postgres(tmp_path: Path, postgres_url: str, log: Path) -> None:
    optimize(make_config(tmp_path, trials=1, storage=postgres_url, study="pg-change"))
    changed = make_config(
        tmp_path, trials=1, storage=postgres_url, study="pg-change", extra='"train.momentum" = { choices = [0.9] }\n'
    )
    with pytest.raises(SearchError, match=r"search\.params\.train\.momentum added"):
        optimize(changed)
