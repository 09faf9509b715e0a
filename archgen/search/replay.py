"""Replaying a study journal's records, each one another process wrote under a guard: a record Optuna cannot apply
is one SearchError naming the file and line, never a traceback from deep inside Optuna.

Optuna applies every record it reads with bare indexing and `assert`: an operation code from another Optuna
version ends in AssertionError, a missing field in KeyError, an odd one in TypeError or ValueError, or worse,
in a study that reads back wrong later (a name that is not a string, a value that is not a number). Records
this process wrote itself are Optuna's to judge (its "duplicated study" and "finished trial" errors are
answers, not damage). Knows Optuna's records; archgen's own attributes are judged by the `check` it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalStorage
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult
from optuna.trial import FrozenTrial

from archgen.errors import SearchError, first_line, printable

AttributeCheck = Callable[[str, object], str | None]  # (key, value) -> what is wrong with it, or None
STUDY_OPERATIONS = {JournalOperation.CREATE_STUDY, JournalOperation.DELETE_STUDY,
                    JournalOperation.SET_STUDY_USER_ATTR, JournalOperation.SET_STUDY_SYSTEM_ATTR}
ONE_ATTRIBUTE = {JournalOperation.SET_STUDY_USER_ATTR: "user_attr", JournalOperation.SET_STUDY_SYSTEM_ATTR:
                 "system_attr", JournalOperation.SET_TRIAL_USER_ATTR: "user_attr",
                 JournalOperation.SET_TRIAL_SYSTEM_ATTR: "system_attr"}


class GuardedJournal(JournalStorage):
    """Optuna's JournalStorage whose replay checks each foreign record before and after applying it; `check`
    judges the user attributes of the trials such records change (archgen's reads expect their types)."""

    def __init__(self, backend: Any, path: Path, *, check: AttributeCheck | None = None) -> None:
        self.path, self.check = path, check
        super().__init__(backend)

    def _sync_with_backend(self) -> None:
        replay = self._replay_result
        for log in self._backend.read_logs(replay.log_number_read):
            line = replay.log_number_read + 1  # one record per line
            if log.get("worker_id") == replay.worker_id:
                replay.apply_logs([log])  # this process's own record: Optuna's verdicts on it are its to raise
                continue
            problem = _apply(replay, log, self.check)
            if problem is not None:
                replay.log_number_read = line - 1  # every later read stops here too, none skips it
                raise damaged(self.path, problem, line=line)


def damaged(path: Path, problem: str, *, line: int | None = None) -> SearchError:
    """The one line for a journal archgen cannot read: the file, the line, what is wrong, what to do."""
    where = "" if line is None else f"line {line}: "
    return SearchError(f"the study journal {printable(str(path))} is damaged or not an Optuna journal "
                       f"({where}{printable(problem)}); move it away to start a new study")


def _apply(replay: JournalStorageReplayResult, log: dict[str, Any], check: AttributeCheck | None) -> str | None:
    """Apply one foreign record; what is wrong with it, or None."""
    op = log["op_code"]
    if type(op) is not int or op not in JournalOperation._value2member_map_:
        return (f"operation code {printable(repr(op))} is unknown to Optuna {optuna.__version__} "
                "(a journal of another Optuna version?)")
    operation = JournalOperation(op)
    try:
        problem = _shape(operation, log)
        if problem is None:
            replay.apply_logs([log])
            problem = _applied(replay, operation, log, check)
    except Exception as error:  # Optuna's bare indexing and asserts on a record of the wrong shape
        problem = f"{type(error).__name__}: {first_line(error)}"
    return None if problem is None else f"a {operation.name} record Optuna cannot apply: {problem}"


def _shape(operation: JournalOperation, log: dict[str, Any]) -> str | None:
    """What Optuna would accept but archgen could not read back: checked before the record is applied."""
    if operation == JournalOperation.CREATE_STUDY:
        if "study_name" in log and not isinstance(log["study_name"], str):
            return "the study name is not a string"
        if "directions" in log and (not isinstance(log["directions"], list) or not log["directions"]):
            return "no list of directions"
    key = ONE_ATTRIBUTE.get(operation)
    if key in log and (not isinstance(log[key], dict) or len(log[key]) != 1):
        return f"{key} is not one key and its value"
    return None  # a missing field: Optuna's KeyError names it


def _applied(
    replay: JournalStorageReplayResult, operation: JournalOperation, log: dict[str, Any], check: AttributeCheck | None
) -> str | None:
    """What is wrong with the study or trial the record changed, judged as Optuna judges a trial it is given."""
    if operation in STUDY_OPERATIONS or operation == JournalOperation.DISCARD_TRIALS:
        return None
    trial_id = len(replay._trials) - 1 if operation == JournalOperation.CREATE_TRIAL else log["trial_id"]
    trial = replay._trials.get(trial_id) if isinstance(trial_id, int) else None
    return None if trial is None else _unsound(trial, check)


def _unsound(trial: FrozenTrial, check: AttributeCheck | None) -> str | None:
    if not isinstance(trial.user_attrs, dict) or not isinstance(trial.system_attrs, dict):
        return "its attributes are not a table"
    for key, value in trial.user_attrs.items():
        problem = None if check is None else check(key, value)
        if problem is not None:
            return f"its {key} attribute is {problem}: {str(value)[:40]}"
    values = trial.values
    if values is not None and (not isinstance(values, list) or not all(_number(value) for value in values)):
        return f"its values are not numbers: {str(values)[:40]}"
    steps = trial.intermediate_values
    if not all(isinstance(step, int) and _number(value) for step, value in steps.items()):
        return f"its intermediate values are not numbers by step: {str(steps)[:40]}"
    try:
        trial._validate()  # Optuna's own rules: dates for the state, values of a complete trial, params in range
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return first_line(error)
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # NaN and inf are Optuna's to judge
