"""Running a search: one worker in this process, or `--workers N` spawned processes sharing the study.

Every worker runs the same loop (claim, run, tell) until the study has its trials; machines joining a
PostgreSQL study run the same command. An unexpected error in any worker stops them all with one line.
Workers die with their parent: SIGINT, SIGTERM or SIGHUP to the parent stops them (each fails its running
trial), and each worker watches its parent itself, so a parent killed by SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from archgen.errors import ArchgenError, SearchError, redacted
from archgen.search import outcome
from archgen.search.capacity import require_workers
from archgen.search.claims import Verdict, claim_next
from archgen.search.config import SearchConfig
from archgen.search.liveness import fail_own
from archgen.search.policy import make_pruner
from archgen.search.signals import Stopped, die_with_parent, stop_on_signals
from archgen.search.storage import claim_lock, storage_errors
from archgen.search.study import create_or_resume
from archgen.search.trial import run_claimed

optuna.logging.set_verbosity(
    optuna.logging.WARNING
)  # the live view reports trials; Optuna's log lines would interleave

STOP_SECONDS = 20.0  # how long stopped workers have to fail their trials and exit before they are killed

Listener = Callable[[optuna.Study], None]


@dataclass(frozen=True)
class SearchRun:
    """How a search command ended: why it stopped, and how long it took."""

    study: str
    verdict: Verdict
    seconds: float


def open_study(config: SearchConfig) -> optuna.Study:
    """The study of `config`, created or resumed (refused if its spec changed)."""
    pruner = make_pruner(config.space, epochs=config.space.epochs)
    return create_or_resume(config.storage, config.study, config.spec, pruner=pruner)


def run_search(config: SearchConfig, *, on_progress: Listener | None = None) -> SearchRun:
    """Run the search to `config.trials` finished trials (or the timeout), in this process or `config.workers`.

    Raises Stopped on SIGINT, SIGTERM or SIGHUP, once every running trial is failed and every worker has exited.
    """
    start = time.monotonic()
    with storage_errors(config.storage):
        if config.workers > 1:
            require_workers(config)  # N processes that would not fit are refused before anything is spawned
        study = open_study(config)  # refuse a changed spec before spawning anything
        if config.workers > 1:
            verdict = _run_parallel(config, study, on_progress)
        else:
            verdict = run_worker(config, study=study, on_progress=on_progress)
    return SearchRun(config.study, verdict, time.monotonic() - start)


def run_worker(
    config: SearchConfig, *, study: optuna.Study | None = None, on_progress: Listener | None = None
) -> Verdict:
    """One worker's loop: claim a trial, run it, tell the study; until the study has its trials.

    SIGINT, SIGTERM or SIGHUP (or the parent's death, see `signals.die_with_parent`) stops it wherever it is:
    this worker's running trial is failed with the reason, and Stopped is raised.
    """
    with storage_errors(config.storage), stop_on_signals():
        study = study or open_study(config)
        try:
            return _loop(config, study, on_progress)
        except (Stopped, KeyboardInterrupt) as stop:
            with claim_lock(config.storage, config.study):  # as reap_stale: no other worker judges them meanwhile
                fail_own(study, f"stopped: {stop.reason if isinstance(stop, Stopped) else 'interrupted'}")
            raise


def _loop(config: SearchConfig, study: optuna.Study, on_progress: Listener | None) -> Verdict:
    deadline = None if config.timeout is None else time.monotonic() + config.timeout
    rejected = 0

    def notify() -> None:
        if on_progress is not None:
            on_progress(study)

    while True:
        claim = claim_next(study, config, deadline=deadline)
        if isinstance(claim, str):
            notify()
            return claim
        notify()
        report = run_claimed(study, claim, config, on_epoch=notify)
        notify()
        rejected = rejected + 1 if report.outcome in outcome.REJECTED else 0
        if rejected >= config.max_rejections:
            raise SearchError(
                f"the last {rejected} proposals were all rejected before training (the last: {report.reason}); "
                "widen the space or the budgets"
            )


# --- several processes -----------------------------------------------------------------------------


def _run_parallel(config: SearchConfig, study: optuna.Study, on_progress: Listener | None) -> Verdict:
    context = multiprocessing.get_context("spawn")  # no forked Optuna/torch state, the same on every OS
    errors: Any = context.Queue()
    workers = [
        context.Process(target=_worker_main, args=(config, index, errors), name=f"archgen-worker-{index}")
        for index in range(config.workers)
    ]
    with stop_on_signals():  # SIGTERM or SIGHUP here is Ctrl-C: the finally below stops every worker
        try:
            for process in workers:
                process.start()
            _watch(workers, errors, study, config, on_progress)
        finally:
            _stop(workers)
    if on_progress is not None:
        on_progress(study)
    deadline_hit = config.timeout is not None and not _reached(study, config)
    return "timeout" if deadline_hit else "done" if _reached(study, config) else "exhausted"


def _watch(
    workers: list[Any], errors: Any, study: optuna.Study, config: SearchConfig, on_progress: Listener | None
) -> None:
    """Show progress until every worker has exited; the first one that fails stops the search with its line."""
    while any(process.is_alive() for process in workers):
        if on_progress is not None:
            on_progress(study)
        failed = [process for process in workers if process.exitcode not in (None, 0)]
        if failed:
            raise SearchError(_failure(failed[0], errors))
        time.sleep(config.poll_seconds)
    failed = [process for process in workers if process.exitcode != 0]
    if failed:
        raise SearchError(_failure(failed[0], errors))


def _reached(study: optuna.Study, config: SearchConfig) -> bool:
    return sum(outcome.counts(trial) for trial in study.get_trials(deepcopy=False)) >= config.trials


def _failure(process: Any, errors: Any) -> str:
    messages = []
    while not errors.empty():
        messages.append(errors.get_nowait())
    detail = messages[0] if messages else f"exit code {process.exitcode}"
    return f"{process.name} stopped, so the search stopped: {detail}"


def _stop(workers: list[Any]) -> None:
    """SIGTERM every worker still running (each fails its running trial and exits), then SIGKILL the stragglers."""
    started = [process for process in workers if process.pid is not None]
    for process in started:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in started:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in started:
        if process.is_alive():
            process.kill()
            process.join()


def _share_cores(workers: int) -> None:
    """Split this machine's cores between the workers: oversubscribed intra-op threads slow every worker down."""
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _worker_main(config: SearchConfig, index: int, errors: Any) -> None:
    """A spawned worker: its own storage connection, the shared study, and one line back if it fails."""
    die_with_parent()  # first: a parent killed while this worker imports torch must not leave it behind
    try:
        _share_cores(config.workers)  # imports torch, which can fail (a too tight `ulimit -v`): one line too
        run_worker(config)
    except Stopped as stop:
        raise SystemExit(stop.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except ArchgenError as error:
        errors.put(redacted(str(error).splitlines()[0], url=config.storage.url))
        raise SystemExit(1) from None
    except Exception as error:
        errors.put(redacted(f"{type(error).__name__}: {error}".splitlines()[0], url=config.storage.url))
        raise SystemExit(1) from None
