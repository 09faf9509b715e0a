"""`archgen search` and `archgen report` as people use them: piped, a line per finished trial; run again on a
finished study, it says so and how to go on; `report NAME` finds runs/NAME/; `--json` is one document on stdout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from in_process import Outcome, archgen_here

pytestmark = pytest.mark.slow  # every test here reads the search its module fixture runs


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Outcome]:
    """Two one-epoch trials of the default search, in a folder of their own (runs/digits-search/)."""
    folder = tmp_path_factory.mktemp("search")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        outcome = archgen_here("search", "--trials", "2", "--epochs", "1", "--seed", "3")
    assert outcome.code == 0, outcome.stderr
    return folder, outcome


@pytest.mark.slow
def test_piped_a_line_per_finished_trial(searched: tuple[Path, Outcome]) -> None:
    _, outcome = searched
    lines = [line for line in outcome.stdout.splitlines() if re.match(r"digits-search: \d/2 finished", line)]
    assert [line.split()[1] for line in lines][:2] == ["1/2", "2/2"], outcome.stdout


@pytest.mark.slow
def test_a_finished_study_says_so_and_how_to_go_on(searched: tuple[Path, Outcome],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = searched
    monkeypatch.chdir(folder)
    outcome = archgen_here("search", "--trials", "2", "--epochs", "1", "--seed", "3")
    assert outcome.code == 0, outcome.stderr
    assert "study 'digits-search' already has 2 finished trials of the 2 asked for" in outcome.stdout
    assert "--trials 4 (2 more)" in outcome.stdout and "--study NAME" in outcome.stdout
    assert "top trials" in outcome.stdout  # and its results, as report shows them


@pytest.mark.slow
def test_report_finds_a_study_by_its_name_and_prints_json(searched: tuple[Path, Outcome],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = searched
    monkeypatch.chdir(folder)
    outcome = archgen_here("report", "digits-search", "--json")
    assert outcome.code == 0, outcome.stderr
    document = json.loads(outcome.stdout)  # stdout holds the document alone
    assert document["study"] == "digits-search" and document["finished"] == 2 \
        and sum(trial["outcome"] in ("complete", "pruned") for trial in document["trials"]) == 2
    assert "written" in document and "top trials" in outcome.stderr
    missing = archgen_here("report", "no-such-study")
    assert missing.code == 1 and "nor in runs/no-such-study/" in missing.stderr  # control
