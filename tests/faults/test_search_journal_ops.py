"""Journal records Optuna cannot apply (an operation code of another Optuna version, a known one with missing or
odd fields) through `archgen report` and `archgen search`: exit code 1, one line naming the file and the line
of the record, no traceback; also when the record arrives while a search runs.

Control: with Optuna's own journal storage in place of archgen's (its file reader and guarded replay), each of
these records ends in a traceback or is taken in silently (a study whose name is a number, values that are words).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from search_helpers import make_config, one_line_error, run_archgen

import archgen.search.storage
from archgen.errors import SearchError
from archgen.search import optimize

START = "2026-01-01T00:00:00"
RUNNING = {"op_code": 4, "worker_id": "other", "study_id": 0, "datetime_start": START}  # another worker's trial
INT_1_4 = json.dumps({"name": "IntDistribution", "attributes": {"log": False, "step": 1, "low": 1, "high": 4}})


def on_new_trial(**record: Any) -> list[dict[str, Any]]:
    """A valid RUNNING trial another worker created, then `record` about it (its id is filled in)."""
    return [RUNNING, {"worker_id": "other", "trial_id": "NEW", **record}]


DAMAGED: dict[str, tuple[list[Any], str]] = {
    "unknown operation": ([{"op_code": 99, "worker_id": "w"}], "operation code 99 is unknown to Optuna"),
    "negative operation": ([{"op_code": -1, "worker_id": "w"}], "operation code -1 is unknown"),
    "boolean operation": ([{"op_code": True, "worker_id": "w"}], "operation code True is unknown"),
    "study without fields": ([{"op_code": 0, "worker_id": "w"}], "CREATE_STUDY record Optuna cannot apply: KeyError"),
    "study named by a number": ([{"op_code": 0, "worker_id": "w", "study_name": 5, "directions": [1]}],
                                "the study name is not a string"),
    "unknown direction": ([{"op_code": 0, "worker_id": "w", "study_name": "x", "directions": [7]}], "ValueError"),
    "study id a list": ([{"op_code": 2, "worker_id": "w", "study_id": [], "user_attr": {"a": 1}}], "TypeError"),
    "two attributes at once": ([{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"a": 1, "b": 2}}],
                               "user_attr is not one key and its value"),
    "trial without a start": ([{"op_code": 4, "worker_id": "w", "study_id": 0}], "KeyError: 'datetime_start'"),
    "trial state 42": ([{**RUNNING, "state": 42}], "ValueError"),
    "trial started yesterday": ([{**RUNNING, "datetime_start": "yesterday"}], "ValueError"),
    "trial attributes a number": ([{**RUNNING, "user_attrs": 5}], "its attributes are not a table"),
    "distribution of garbage": (on_new_trial(op_code=5, param_name="x", param_value_internal=1,
                                             distribution="garbage"), "SET_TRIAL_PARAM"),
    "parameter out of its range": (on_new_trial(op_code=5, param_name="x", param_value_internal=99,
                                                distribution=INT_1_4), "isn't contained"),
    "state a word": (on_new_trial(op_code=6, state="done", values=None), "SET_TRIAL_STATE_VALUES"),
    "values are words": (on_new_trial(op_code=6, state=1, values=["a"], datetime_complete=START),
                         "its values are not numbers"),
    "step a word": (on_new_trial(op_code=7, step="a", intermediate_value=0.5), "not numbers by step"),
    "attribute a list": (on_new_trial(op_code=8, user_attr=[["a", 1]]), "user_attr is not one key"),
    "nested too deep": (["[" * 100_000 + "]" * 100_000], "RecursionError"),
    # Optuna takes these in; archgen reads its attributes as the types it writes
    "history of words": (on_new_trial(op_code=8, user_attr={"history": "long"}), "its history attribute is not"),
    "history rows without numbers": (on_new_trial(op_code=8, user_attr={"history": [{"val_error": "low"}]}),
                                     "its history attribute is not a list of epochs"),
    "params a word": ([{**RUNNING, "user_attrs": {"params": "many"}}], "its params attribute is not an integer"),
    "reason a table": (on_new_trial(op_code=8, user_attr={"reason": {"a": 1}}), "its reason attribute is not a str"),
}


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study of two finished trials, written by archgen (a fresh copy per test)."""
    folder = tmp_path_factory.mktemp("journal")
    config = make_config(folder, trials=2, storage=str(folder / "j.log"))
    assert optimize(config).verdict == "done"
    return folder / "j.log"


def damage(journal: Path, folder: Path, records: list[Any]) -> tuple[Path, int]:
    """A copy of `journal` with `records` appended as lines; the copy and the line of the last record."""
    copy = folder / "copy.log"
    lines = journal.read_text().splitlines()
    trial_id = sum(json.loads(line)["op_code"] == 4 for line in lines)  # the next trial's id
    for record in records:
        if isinstance(record, dict) and record.get("trial_id") == "NEW":
            record = {**record, "trial_id": trial_id}
        lines.append(record if isinstance(record, str) else json.dumps(record))
    copy.write_text("\n".join(lines) + "\n")
    return copy, len(lines)


def commands(copy: Path, spec: Path) -> list[list[str]]:
    out = str(copy.parent / "o")
    return [["report", str(copy), "--out", out],
            ["search", str(spec), "--storage", str(copy), "--study", "tiny", "--trials", "2", "--out", out]]


@pytest.mark.parametrize("case", DAMAGED)
def test_a_record_optuna_cannot_apply_is_one_line(tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str],
                                                  case: str) -> None:
    records, problem = DAMAGED[case]
    copy, line = damage(journal, tmp_path, records)
    (tmp_path / "space.toml").write_text((journal.parent / "space.toml").read_text())
    for args in commands(copy, tmp_path / "space.toml"):
        error = one_line_error(run_archgen(args, capsys), naming=f"{copy} is damaged or not an Optuna journal")
        assert f"line {line}: " in error and problem in error, error


@pytest.mark.parametrize("case", DAMAGED)
def test_control_optunas_own_replay_breaks_or_swallows_each_record(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    copy, _ = damage(journal, tmp_path, DAMAGED[case][0])
    optunas = lambda path: JournalStorage(JournalFileBackend(str(path)))  # noqa: E731
    monkeypatch.setattr(archgen.search.storage, "open_journal", optunas)
    try:
        ran = run_archgen(commands(copy, tmp_path / "space.toml")[0], capsys)
    except Exception as error:  # a traceback: what archgen's journal turns into one line
        assert not isinstance(error, SearchError), error
        return
    assert "damaged or not an Optuna journal" not in ran.err, ran.err  # taken in silently, or failing elsewhere


def test_a_record_arriving_during_a_search_stops_it_in_one_line(tmp_path: Path) -> None:
    """Another process appends a record of another Optuna version while this one trains: the next read stops."""
    from fakes import fake_train

    path = tmp_path / "live.log"

    def trains_while_a_stranger_writes(spec, *, device, listener):  # type: ignore[no-untyped-def]
        with path.open("a") as file:
            file.write(json.dumps({"op_code": 99, "worker_id": "stranger"}) + "\n")
        fake_train(spec, device=device, listener=listener)

    config = make_config(tmp_path, trials=3, storage=str(path), trainer=trains_while_a_stranger_writes)
    with pytest.raises(SearchError) as caught:
        optimize(config)
    lines_before_training = next(number for number, line in enumerate(path.read_text().splitlines(), 1)
                                 if '"op_code":99' in line.replace(" ", ""))
    assert f"line {lines_before_training}: operation code 99 is unknown" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("spec_value", [5, [1, 2], {"search": "x"}, {"search": {"objectives": [3]}}])
def test_a_study_spec_attribute_archgen_did_not_write_is_one_line(
    tmp_path: Path, journal: Path, capsys: pytest.CaptureFixture[str], spec_value: Any
) -> None:
    """The study's own tag, rewritten by another process: every reader of it says so in one line."""
    record = {"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"archgen.search_spec": spec_value}}
    copy, _ = damage(journal, tmp_path, [record])
    (tmp_path / "space.toml").write_text((journal.parent / "space.toml").read_text())
    report, search = commands(copy, tmp_path / "space.toml")
    one_line_error(run_archgen(report, capsys), naming="was not made by archgen search")
    one_line_error(run_archgen(search, capsys), naming="searched a different spec, so it cannot be resumed")
