"""Two different search specs started at the same moment on one new study: exactly one spec holds the study, and
every command of the other spec gets the one-line refusal. On the journal file, SQLite and PostgreSQL.

Each racer is a process of its own, released together; a delay is injected between creating the study and
tagging it with its spec (a monkeypatched `study.tag`), so the window is wide open. Control: without the claim
lock around create, check and tag, both specs pass and search the same study (there the racers wait at the tag until
all have found the study untagged: the interleaving the lock closes, made certain rather than left to timing, which
a loaded machine upsets).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from search_helpers import make_config, postgres_password_url, storage_url, wait_for

from archgen.search.storage import open_storage
from archgen.search.study import FINGERPRINT

__all__ = ["postgres_password_url"]

RACERS = 6  # three of each spec
OTHER_SPEC = '"head.dropout" = { choices = [0.0, 0.5] }\n'
STORAGES = ["journal", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

RACER = """
import contextlib, json, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
from search_helpers import make_config
import archgen.search.study as study
from archgen.errors import SearchError
from archgen.search import open_study

tag = study.tag
def slow_tag(found, data):  # the window between creating the study and tagging it, held open
    if {unlocked}:  # no lock to wait for: every racer found the study untagged before any tags it, however loaded
        Path({folder!r}, "at-tag").touch()
        deadline = time.monotonic() + 120
        while len(list(Path({folder!r}).parent.glob("racer-*/at-tag"))) < {racers} and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        time.sleep(0.5)
    tag(found, data)
study.tag = slow_tag
if {unlocked}:
    study.claim_lock = lambda where, name: contextlib.nullcontext()
config = make_config(Path({folder!r}), trials=1, storage={storage!r}, study={study!r}, extra={extra!r})
go = Path({go!r})
Path({ready!r}).touch()
while not go.exists():
    time.sleep(0.005)
try:
    opened = open_study(config)
    print(json.dumps({{"ok": opened.user_attrs[study.FINGERPRINT], "mine": study.fingerprint(study.resolved_data(
        config.spec))}}))
except SearchError as error:
    print(json.dumps({{"refused": str(error)}}))
"""


@pytest.fixture
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    postgres = request.getfixturevalue("postgres_password_url") if kind == "postgresql" else None
    return storage_url(kind, tmp_path, postgres) or str(tmp_path / "journal.log")


def race(tmp_path: Path, storage: str, study: str, *, unlocked: bool) -> list[dict[str, str]]:
    """RACERS processes, half with each spec, opening the new `study` at one moment; what each one got."""
    go = tmp_path / f"go-{study}"
    racers = []
    for index in range(RACERS):
        folder = tmp_path / f"racer-{study}-{index}"
        folder.mkdir()
        code = RACER.format(here=str(Path(__file__).parent), unlocked=unlocked, folder=str(folder), storage=storage,
                            study=study, extra=OTHER_SPEC if index % 2 else "", go=str(go), ready=str(folder / "ready"),
                            racers=RACERS)
        racers.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True))
    for index in range(RACERS):
        wait_for(tmp_path / f"racer-{study}-{index}" / "ready")  # all imported, all waiting
    go.touch()
    results = []
    for racer in racers:
        out, _ = racer.communicate(timeout=120)
        assert racer.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("url", STORAGES, indirect=True)
def test_one_spec_wins_a_new_study_and_the_other_is_refused(tmp_path: Path, url: str) -> None:
    study = f"race-{tmp_path.name}"[:60]
    results = race(tmp_path, url, study, unlocked=False)
    passed = [r for r in results if "ok" in r]
    refused = [r["refused"] for r in results if "refused" in r]
    assert len(passed) == RACERS // 2 and len(refused) == RACERS // 2, results  # one spec's three pass, three refused
    assert len({r["mine"] for r in passed}) == 1 and all(r["ok"] == r["mine"] for r in passed)
    assert all("searched a different spec, so it cannot be resumed" in line and "\n" not in line for line in refused)
    storage = open_storage(make_config(tmp_path, trials=1, storage=url, study=study).storage)
    assert optuna.load_study(study_name=study, storage=storage).user_attrs[FINGERPRINT] == passed[0]["mine"]


@pytest.mark.slow
@pytest.mark.parametrize("url", ["journal", "sqlite"], indirect=True)
def test_control_without_the_lock_both_specs_pass(tmp_path: Path, url: str) -> None:
    study = f"race-{tmp_path.name}"[:60]
    results = race(tmp_path, url, study, unlocked=True)
    passed = {r["mine"] for r in results if "ok" in r}
    assert len(passed) == 2, results  # both specs opened the one study: the race the lock closes
