"""Every use of Optuna's private API in archgen, each with why no public one does (tests/search/test_optuna_internals.py
fails when an Optuna release changes one). Knows nothing of archgen's trials or messages: callers pass those in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.storages.journal import JournalStorage
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult  # private module
from optuna.trial import FrozenTrial, TrialState

from archgen.errors import first_line, printable

AttributeCheck = Callable[[str, object], str | None]  # (key, value) -> what is wrong with it, or None
Damage = Callable[[str, int], Exception]  # (problem, line) -> the error to raise for a record that cannot be applied
OPERATIONS = {operation.value for operation in JournalOperation}
STUDY_OPERATIONS = {JournalOperation.CREATE_STUDY, JournalOperation.DELETE_STUDY,
                    JournalOperation.SET_STUDY_USER_ATTR, JournalOperation.SET_STUDY_SYSTEM_ATTR}
ONE_ATTRIBUTE = {JournalOperation.SET_STUDY_USER_ATTR: "user_attr", JournalOperation.SET_STUDY_SYSTEM_ATTR:
                 "system_attr", JournalOperation.SET_TRIAL_USER_ATTR: "user_attr",
                 JournalOperation.SET_TRIAL_SYSTEM_ATTR: "system_attr"}


# --- a trial's id, and the storage operations Study has no method for --------------------------------------------


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial. Private because Optuna's public API addresses trials by number; archgen needs
    the id for the storage calls below (heartbeats, failing another worker's trial)."""
    return int(trial._trial_id)


def record_heartbeat(study: optuna.Study, trial: optuna.Trial) -> None:
    """Beat for `trial` on an RDB storage. Optuna beats only inside `Study.optimize` (its heartbeat thread is private);
    archgen runs its own ask/tell loop, so it calls the storage's `record_heartbeat` itself, through `study._storage`
    (the cached wrapper Optuna made of archgen's RDBStorage)."""
    study._storage.record_heartbeat(trial_id(trial))  # type: ignore[attr-defined]  # BaseHeartbeat's method


def fail_trial(study: optuna.Study, trial: FrozenTrial, attributes: Mapping[str, str]) -> bool:
    """Set `attributes` on a RUNNING trial another process (or this one) owns, then fail it; False if it finished
    meanwhile. The attributes must land before the state (a finished trial takes none), and `Study.tell` sets only the
    state; an `optuna.Trial` handle for a trial by id is Optuna's own business. So: the storage, by trial id."""
    storage = study._storage
    try:
        for key, value in attributes.items():
            storage.set_trial_user_attr(trial_id(trial), key, value)
        return bool(storage.set_trial_state_values(trial_id(trial), state=TrialState.FAIL))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


# --- the journal's replay, guarded --------------------------------------------------------------------------------


class GuardedJournal(JournalStorage):
    """Optuna's JournalStorage whose replay checks each record another process wrote before and after applying it.

    Optuna applies every record it reads with bare indexing and `assert`: an operation code from another Optuna
    version ends in AssertionError, a missing field in KeyError, an odd one in TypeError or ValueError, or worse, in
    a study that reads back wrong later. The only place every read passes through is the private
    `_sync_with_backend`, replaying into the private `_replay_result`: overridden here. Records this process wrote are
    Optuna's to judge (its "duplicated study" and "finished trial" errors are answers, not damage). `check` judges the
    user attributes of the trials foreign records change; `damage` makes the error a bad record raises.
    """

    def __init__(self, backend: Any, *, check: AttributeCheck | None, damage: Damage) -> None:
        self.check, self.damage = check, damage
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
                raise self.damage(problem, line)


def _apply(replay: JournalStorageReplayResult, log: dict[str, Any], check: AttributeCheck | None) -> str | None:
    """Apply one foreign record; what is wrong with it, or None."""
    op = log["op_code"]
    if type(op) is not int or op not in OPERATIONS:
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
    """What is wrong with the trial the record changed, judged as Optuna judges a trial it is given."""
    if operation in STUDY_OPERATIONS or operation == JournalOperation.DISCARD_TRIALS:
        return None
    created = operation == JournalOperation.CREATE_TRIAL
    number = len(replay._trials) - 1 if created else log["trial_id"]  # ids are dense: the last one is the new one
    trial = replay._trials.get(number) if isinstance(number, int) else None
    return None if trial is None else unsound(trial, check)


def unsound(trial: FrozenTrial, check: AttributeCheck | None) -> str | None:
    """What is wrong with a trial read from a record, or None. Optuna's own rules (dates for the state, values of a
    complete trial, params in their distributions) are the private `FrozenTrial._validate`: `create_trial` runs it
    too, but on a trial it builds itself, not on one replayed from a file."""
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
        trial._validate()
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return first_line(error)
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # NaN and inf are Optuna's to judge

