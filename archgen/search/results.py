"""What a search records on its study and trials, read back as values: outcomes, rows, progress, the best trials or
Pareto front, plot data; and the winners written as specs into the study folder, never over a file it did not write.

Plain frozen dataclasses for `archgen.report` to render; nothing here draws or prints.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from archgen.errors import SearchError, SpecError, printable
from archgen.files import OutputExists, write_atomic
from archgen.search.depth import GROWN_FROM, PLAIN_REASON, PLAIN_TRAIN_ERROR, PLAIN_VAL_ERROR, Degradation, degradation
from archgen.search.space import trial_spec
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec

# --- what archgen records ------------------------------------------------------------------------------------------
# `--trials N` counts *finished* trials: those that trained and gave a result, i.e. COMPLETE, or PRUNED by the pruner
# after at least one epoch. Points rejected before training (over budget, not a valid spec, already tried) are
# recorded as PRUNED with their reason but do not count; nor do FAILed trials (NaN, out of memory, a dead worker's),
# whose slot goes to another trial.

Outcome = Literal["running", "complete", "pruned", "over_budget", "invalid", "duplicate", "failed"]
REJECTED: tuple[Outcome, ...] = ("over_budget", "invalid", "duplicate")

RESOLVED = "archgen.search_spec"  # the study's resolved search spec (a study user attribute)
OUTCOME = "outcome"  # the trial user attributes
REASON = "reason"
WORKER = "worker"
HISTORY = "history"
PARAMS = "params"
MACS = "macs"
LATENCY = "latency_ms"
SUMMARY = "architecture"
SEED = "seed"
IMAGES = "images"  # [training, validation] images the final errors were measured on
HISTORY_KEYS = ("epoch", "train_loss", "train_error", "val_loss", "val_error", "seconds")  # one row per epoch
TOP = 10
MANIFEST = ".archgen-written.json"  # in the study folder: what a search or report of which study wrote there


def outcome(trial: FrozenTrial) -> Outcome:
    """The trial's outcome; trials from before archgen recorded one fall back to their state."""
    recorded = trial.user_attrs.get(OUTCOME)
    if trial.state == TrialState.RUNNING:
        return "running"
    if trial.state == TrialState.COMPLETE:
        return "complete"
    if trial.state == TrialState.FAIL:
        return "failed"
    if trial.state == TrialState.PRUNED:
        return recorded if recorded in (*REJECTED, "pruned") else "pruned"
    return "running"  # WAITING: a retry queued for the next worker


def counts(trial: FrozenTrial) -> bool:
    """Whether the trial is one of the `--trials N`: it trained and gave a result."""
    return outcome(trial) in ("complete", "pruned")


def settled_point(trial: FrozenTrial) -> bool:
    """Whether the trial's point needs no further trial (trained, or rejected for good)."""
    return outcome(trial) in ("complete", "pruned", "over_budget", "invalid")


def history(trial: FrozenTrial) -> list[dict[str, float]]:
    return list(trial.user_attrs.get(HISTORY) or [])


def epochs_run(trial: FrozenTrial) -> int:
    return len(history(trial))


def accuracy(trial: FrozenTrial) -> float | None:
    """Final validation accuracy (0-1) of a trained trial; a pruned trial's last reported one."""
    rows = history(trial)
    return 1.0 - float(rows[-1]["val_error"]) if rows else None


def point_key(trial: FrozenTrial) -> tuple[tuple[str, object], ...]:
    return tuple(sorted(trial.params.items()))


def attribute_problem(key: str, value: object) -> str | None:
    """What is wrong with one of archgen's trial attributes as a record from elsewhere holds it (archgen reads them
    as these types everywhere); None when it is what archgen writes, or not archgen's."""
    if key in (OUTCOME, REASON, WORKER, SUMMARY, PLAIN_REASON):
        return None if isinstance(value, str) else "not a string"
    if key in (PARAMS, MACS, SEED, GROWN_FROM):
        return None if isinstance(value, int) and not isinstance(value, bool) else "not an integer"
    if key in (LATENCY, PLAIN_TRAIN_ERROR, PLAIN_VAL_ERROR):
        return None if _number(value) else "not a number"
    if key == IMAGES:
        fine = isinstance(value, list) and len(value) == 2 and all(_number(count) for count in value)
        return None if fine else "not a list of two image counts"
    if key == HISTORY:
        rows = value if isinstance(value, list) else [None]
        fine = all(isinstance(row, dict) and all(_number(row.get(name)) for name in HISTORY_KEYS) for row in rows)
        return None if fine else f"not a list of epochs with numbers for {', '.join(HISTORY_KEYS)}"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def study_spec(study: optuna.Study) -> NetSpec:
    """The resolved search spec a study was made with."""
    from archgen.spec.loader import parse_spec

    data = study.user_attrs.get(RESOLVED)
    if not isinstance(data, dict):
        raise SearchError(f"study {study.study_name!r} was not made by archgen search (no {RESOLVED} table)")
    try:
        return parse_spec({"name": study.study_name, **data})
    except SpecError as error:  # written by something else than archgen search: one line, not a spec's report
        problem = error.problems[0]
        raise SearchError(f"study {study.study_name!r} was not made by archgen search (its {RESOLVED} is no spec: "
                          f"{problem.field + ': ' if problem.field else ''}{printable(problem.message)})") from None


# --- the study as values -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialRow:
    """One trial as a person reads it."""

    number: int
    outcome: Outcome
    point: dict[str, Any]
    accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    epochs: int = 0
    architecture: str = ""
    reason: str = ""
    worker: str = ""
    seed: int | None = None
    history: tuple[dict[str, float], ...] = ()
    images: tuple[int, int] | None = None
    """(training, validation) images the final errors were measured on."""
    grown_from: int | None = None
    plain_train_error: float | None = None
    plain_val_error: float | None = None

    @property
    def train_error(self) -> float | None:
        """Training error (0-1) after the last epoch: far above the validation error's fall, a net that cannot fit
        its data (the paper's degradation) rather than one that overfits it."""
        return float(self.history[-1]["train_error"]) if self.history else None


@dataclass(frozen=True)
class Progress:
    """The study right now: how many trials are in each state, the best so far, a leaderboard."""

    study: str
    target: int | None
    """The --trials this run aims at; None when re-read from storage alone (`archgen report`)."""
    objectives: tuple[str, ...]
    finished: int = 0
    running: int = 0
    complete: int = 0
    pruned: int = 0
    rejected: int = 0
    failed: int = 0
    best: TrialRow | None = None
    leaderboard: tuple[TrialRow, ...] = ()


@dataclass(frozen=True)
class PlotData:
    """What the search plots show: every trial's accuracy in order, costs for the Pareto front, importances."""

    history: tuple[tuple[int, float, str], ...] = ()  # (trial number, accuracy, outcome) of trained trials
    pareto_cost: str | None = None  # the cost objective on the Pareto plot's x axis (params when single-objective)
    importances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyResults:
    """Everything `archgen report` shows about a study."""

    progress: Progress
    rows: tuple[TrialRow, ...]
    best: tuple[TrialRow, ...]  # the best trial, or every Pareto-optimal trial
    plots: PlotData
    degradation: Degradation = field(default_factory=Degradation)


def row(trial: FrozenTrial) -> TrialRow:
    attrs = trial.user_attrs
    return TrialRow(
        number=trial.number,
        outcome=outcome(trial),
        point=dict(trial.params),
        accuracy=accuracy(trial),
        params=attrs.get(PARAMS),
        macs=attrs.get(MACS),
        latency_ms=attrs.get(LATENCY),
        seed=attrs.get(SEED),
        epochs=epochs_run(trial),
        architecture=attrs.get(SUMMARY, ""),
        reason=attrs.get(REASON, ""),
        worker=attrs.get(WORKER, ""),
        history=tuple(history(trial)),
        images=_images(attrs.get(IMAGES)),
        grown_from=attrs.get(GROWN_FROM),
        plain_train_error=attrs.get(PLAIN_TRAIN_ERROR),
        plain_val_error=attrs.get(PLAIN_VAL_ERROR),
    )


def _images(value: Any) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if isinstance(value, list) and len(value) == 2 else None


def objectives_of(study: optuna.Study) -> tuple[str, ...]:
    """The study's objectives as its search spec names them (accuracy alone if the spec does not say)."""
    resolved = study.user_attrs.get(RESOLVED)
    search = resolved.get("search") if isinstance(resolved, dict) else None
    objectives = search.get("objectives") if isinstance(search, dict) else None
    if isinstance(objectives, list) and "accuracy" in objectives and all(isinstance(o, str) for o in objectives):
        return tuple(objectives)
    return ("accuracy",)


def progress(study: optuna.Study, *, target: int | None, top: int = 5) -> Progress:
    trials = study.get_trials(deepcopy=False)
    kinds = Counter(outcome(trial) for trial in trials)
    ranked = _ranked([row(trial) for trial in trials if trial.state == TrialState.COMPLETE])
    return Progress(
        study=study.study_name,
        target=target,
        objectives=objectives_of(study),
        finished=kinds["complete"] + kinds["pruned"],
        running=kinds["running"],
        complete=kinds["complete"],
        pruned=kinds["pruned"],
        rejected=sum(kinds[kind] for kind in REJECTED),
        failed=kinds["failed"],
        best=ranked[0] if ranked else None,
        leaderboard=tuple(ranked[:top]),
    )


def _ranked(rows: list[TrialRow]) -> list[TrialRow]:
    """Most accurate first; ties go to the smaller network, then the earlier trial."""
    return sorted(rows, key=lambda r: (-(r.accuracy or 0.0), r.params or 0, r.number))


def study_results(study: optuna.Study, *, target: int | None = None) -> StudyResults:
    rows = tuple(row(trial) for trial in study.get_trials(deepcopy=False))
    objectives = objectives_of(study)
    return StudyResults(
        progress=progress(study, target=target, top=TOP),
        rows=rows,
        best=_best(study, rows, objectives),
        plots=PlotData(
            history=tuple((r.number, r.accuracy, r.outcome) for r in rows if r.accuracy is not None and r.epochs),
            pareto_cost=next((o for o in objectives if o != "accuracy"), "params"),
            importances=_importances(study, objectives),
        ),
        degradation=_degradation(study, rows),
    )


def _degradation(study: optuna.Study, rows: tuple[TrialRow, ...]) -> Degradation:
    """The verdicts among trials that recorded the images their errors were measured on (the real trainer's)."""
    if not any(r.images for r in rows if r.outcome == "complete"):
        return Degradation()
    return degradation(study_spec(study), rows)


def _best(study: optuna.Study, rows: tuple[TrialRow, ...], objectives: tuple[str, ...]) -> tuple[TrialRow, ...]:
    complete = [r for r in rows if r.outcome == "complete"]
    if not complete:
        return ()
    if len(objectives) == 1:
        return (_ranked(complete)[0],)
    front = {trial.number for trial in study.best_trials}
    return tuple(_ranked([r for r in complete if r.number in front]))


def _importances(study: optuna.Study, objectives: tuple[str, ...]) -> dict[str, float]:
    """fANOVA importances of the parameters for accuracy; empty until enough trials vary enough."""
    index = objectives.index("accuracy")
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 3:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # direction-agnostic, deterministic
        values = optuna.importance.get_param_importances(study, evaluator=evaluator, target=lambda t: t.values[index])
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}
    return {name: value for name, value in values.items() if not math.isnan(value)}


# --- the winners as specs ------------------------------------------------------------------------------------------


def winner_files(study: optuna.Study, best: tuple[TrialRow, ...], *, seed: int = 0) -> dict[str, bytes]:
    """best.toml (the most accurate), and pareto/trial-N.toml for every Pareto point when there are several: each
    the spec its trial trained (its values, seed and epochs), so `archgen train` reproduces the trial."""
    if not best:
        return {}
    base = study_spec(study)
    names = {"best.toml": best[0]}
    if len(best) > 1 or (base.search is not None and len(base.search.objectives) > 1):
        names.update({f"pareto/trial-{r.number}.toml": r for r in best})
    return {name: _winner_toml(name, base, r, seed=seed, study=study.study_name) for name, r in names.items()}


def winner_spec(base: NetSpec, row: TrialRow, *, seed: int) -> NetSpec:
    """The trial's network with the recipe it trained with (its epochs and seed), described."""
    spec = trial_spec(base, row.point, number=row.number, seed=row.seed if row.seed is not None else seed + row.number)
    epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
    accuracy = "" if row.accuracy is None else f" {row.accuracy:.2%} validation accuracy after {epochs},"
    description = f"Trial {row.number} of a search on {base.name}:{accuracy} {row.params or 0:,} params."
    return spec.model_copy(update={"description": description[:2000]})


def _winner_toml(name: str, base: NetSpec, row: TrialRow, *, seed: int, study: str) -> bytes:
    header = (
        f"Found by `archgen search` (study {study!r}, trial {row.number}): {row.architecture}.\n"
        f"Retrain with `archgen train {Path(name).name}`; raise train.epochs for a full training "
        f"(the search trained {row.epochs} epoch{'s' if row.epochs != 1 else ''})."
    )
    return dump_spec(winner_spec(base, row, seed=seed), header=header).encode()


# --- writing into the study folder ---------------------------------------------------------------------------------


def check_outputs(folder: Path, names: Iterable[str], *, study: str, force: bool = False) -> None:
    """Refuse (OutputExists) when a file of `names` exists in `folder` and was not written there, unchanged since, by a
    search or report of `study`; `force` replaces anything."""
    ours = _ours(folder, study, force=force)
    for name in names:
        path = folder / name
        if not force and os.path.lexists(path) and (name not in ours or _sha256(path) != ours[name]):
            raise OutputExists(path)


def write_outputs(folder: Path, files: Mapping[str, bytes], *, study: str, force: bool = False) -> list[Path]:
    """Write `files` (names relative to `folder`) atomically, all or none: each is refused as `check_outputs` says,
    then recorded with its sha256 in the folder's manifest. The paths written."""
    check_outputs(folder, files, study=study, force=force)
    ours = _ours(folder, study, force=force)
    for name, data in files.items():
        path = folder / name
        _mkdir(path.parent)
        # a file new here takes its name by a hard link: one that appeared since the check is refused, not replaced
        write_atomic(path, data, replace=force or name in ours)
        ours[name] = hashlib.sha256(data).hexdigest()
    if files:
        write_atomic(folder / MANIFEST, json.dumps({"study": study, "files": ours}, indent=1).encode())
    return [folder / name for name in files]


def _ours(folder: Path, study: str, *, force: bool) -> dict[str, str]:
    """The files the manifest says `study` wrote here, by sha256. A manifest that is none is refused (or, with
    `force`, replaced)."""
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return {}
    try:
        manifest = json.loads(path.read_bytes()) if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError, RecursionError):
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(value, str) for value in files.values()):
        if force:
            return {}
        raise OutputExists(path)
    return dict(files) if isinstance(manifest, dict) and manifest.get("study") == study else {}


def _sha256(path: Path) -> str | None:
    """A regular file's sha256; None for anything else (a link, a folder or a FIFO is never ours)."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SearchError(f"cannot create the folder {printable(str(folder))}: {error.strerror}") from None
