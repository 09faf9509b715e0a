"""Every storage archgen writes opens in optuna-dashboard as is: its own URL parsing, its own API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from conftest import make_config
from optuna_dashboard import wsgi
from optuna_dashboard._storage_url import get_storage  # what `optuna-dashboard STORAGE` calls

from archgen.search import optimize


def dashboard_get(storage: str, path: str) -> Any:
    """GET `path` from the dashboard's WSGI app opened on `storage` exactly as its command line would."""
    app = wsgi(get_storage(storage))
    environ: dict[str, Any] = {"PATH_INFO": path, "wsgi.errors": sys.stderr}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda code, headers, *exc_info: status.append(code)))
    assert status[0].startswith("200"), (status, body[:2000])
    return json.loads(body)


def dashboard_sees(storage: str, study: str, trials: int) -> None:
    studies = {entry["study_name"]: entry for entry in dashboard_get(storage, "/api/studies")["study_summaries"]}
    assert study in studies
    detail = dashboard_get(storage, f"/api/studies/{studies[study]['study_id']}")
    assert len(detail["trials"]) >= trials


@pytest.fixture(autouse=True)
def _fake_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(tmp_path / "trained.jsonl"))


def test_the_local_journal_study_opens_in_the_dashboard(tmp_path: Path) -> None:
    config = make_config(tmp_path, trials=3, study="journal-dash")
    optimize(config)
    assert config.storage.journal is not None
    dashboard_sees(str(config.storage.journal), "journal-dash", trials=3)


def test_a_sqlite_study_runs_and_opens_in_the_dashboard(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    config = make_config(tmp_path, trials=3, storage=url, study="sqlite-dash")
    assert optimize(config).verdict == "done"
    dashboard_sees(url, "sqlite-dash", trials=3)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgres_study_opens_in_the_dashboard(tmp_path: Path, postgres_url: str) -> None:
    optimize(make_config(tmp_path, trials=2, storage=postgres_url, study="pg-dash"))
    dashboard_sees(postgres_url, "pg-dash", trials=2)
