"""Claiming a trial: under the study's claim lock, the next trial this worker trains, or why there is none.

A study finishes exactly `--trials` trials however many workers share it: under the claim lock a worker fails stale
trials, counts finished and running ones, and creates a trial only while finished + running < target; sampling happens
under the lock too (each worker sees the others' running points), seeded by (seed, trial number).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import optuna
from optuna.trial import TrialState

from archgen.search import record
from archgen.search.liveness import Worker, reap_stale
from archgen.search.optuna_internals import record_heartbeat
from archgen.search.space import make_sampler, suggest
from archgen.search.storage import claim_lock
from archgen.search.study import SearchConfig
from archgen.spec.search_space import Choice

Verdict = Literal["done", "timeout", "exhausted"]


@dataclass(frozen=True)
class Claim:
    """A trial this worker now owns, its sampled point, and an earlier trial with the same point, if any."""

    trial: optuna.Trial
    point: dict[str, Choice]
    duplicate_of: int | None


@dataclass(frozen=True)
class Tally:
    finished: int
    running: int
    settled_points: int
    taken_points: int
    """Points settled or being trained now: when they cover a finite space, a new trial could only repeat one."""


def tally(trials: list[optuna.trial.FrozenTrial]) -> Tally:
    running = sum(trial.state == TrialState.RUNNING for trial in trials)  # WAITING retries take a slot when asked
    finished = sum(record.counts(trial) for trial in trials)
    settled = {record.point_key(trial) for trial in trials if record.settled_point(trial)}
    taken = settled | {record.point_key(trial) for trial in trials if trial.state == TrialState.RUNNING}
    return Tally(finished, running, len(settled), len(taken))


def claim_next(study: optuna.Study, config: SearchConfig, *, deadline: float | None) -> Claim | Verdict:
    """The next trial for this worker, or why there is none: target reached, time up, or no new point left."""
    size = config.space.size()
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return "timeout"
        with claim_lock(config.storage, config.study):
            reap_stale(study, config.storage)
            trials = study.get_trials(deepcopy=False)
            count = tally(trials)
            if count.finished >= config.trials:
                return "done"
            if size is not None and count.settled_points >= size and count.running == 0:
                return "exhausted"
            # every point settled or running: wait (a running one may still fail and free its point) rather
            # than propose duplicates in a tight loop that starves the trials being trained
            space_left = size is None or count.taken_points < size
            if space_left and count.finished + count.running < config.trials:
                return _create(study, config, number=len(trials))
        time.sleep(config.poll_seconds)


def _create(study: optuna.Study, config: SearchConfig, *, number: int) -> Claim:
    study.sampler = make_sampler(config.space, seed=config.seed, trial_number=number)
    trial = study.ask()
    trial.set_user_attr(record.WORKER, Worker.this().label)
    trial.set_user_attr(record.OUTCOME, "running")
    if config.storage.journal is None:
        record_heartbeat(study, trial)  # RDB: beat before any kill, so a worker killed now leaves a stale trial
    point = suggest(trial, config.space)
    return Claim(trial, point, _duplicate_of(study, trial.number, point))


def _duplicate_of(study: optuna.Study, number: int, point: dict[str, Choice]) -> int | None:
    key = tuple(sorted(point.items()))
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)):
        live = record.outcome(other) in ("complete", "pruned", "running")
        if other.number != number and live and record.point_key(other) == key:
            return other.number
    return None
