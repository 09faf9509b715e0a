"""Running a search: one worker in this process, or `--workers N` spawned processes sharing the study (spread over the
visible GPUs), each checked against memory before any is spawned.

Every worker runs the same loop (claim, settle, tell) until the study has its trials; machines joining a PostgreSQL
study run the same command. An unexpected error in any worker stops them all with one line. Workers die with their
parent: SIGINT, SIGTERM or SIGHUP to the parent stops them (each fails its running trial), and each worker watches its
parent itself, so a parent killed by SIGKILL leaves no worker behind.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from archgen.analysis import analyze, check_budget, footprint
from archgen.data import held_images, parse_source
from archgen.errors import ArchgenError, DataError, SearchError, redacted
from archgen.memory import require_processes, size
from archgen.search import record
from archgen.search.claim import Verdict, claim_next
from archgen.search.liveness import Stopped, die_with_parent, fail_own, stop_on_signals
from archgen.search.outputs import check_kept
from archgen.search.runner import load_trainer
from archgen.search.space import largest_point, try_trial_spec
from archgen.search.starts import Source, warm_start
from archgen.search.storage import claim_lock, storage_errors
from archgen.search.study import SearchConfig, open_study
from archgen.search.trial import settle
from archgen.spec.schema import NetSpec
from archgen.spec.search_space import Choice

# the live view reports trials; Optuna's log lines would interleave
optuna.logging.set_verbosity(optuna.logging.WARNING)

STOP_SECONDS = 20.0  # how long stopped workers have to fail their trials and exit before they are killed

Watcher = Callable[[optuna.Study], None]


@dataclass(frozen=True)
class Optimization:
    """How a search command ended: its study (to report from), why it stopped, and how long it took."""

    study: optuna.Study
    verdict: Verdict
    seconds: float


def optimize(config: SearchConfig, *, on_progress: Watcher | None = None, from_study: Sequence[Source] = (),
             points: Sequence[Mapping[str, Choice]] = (), on_note: Callable[[str], None] | None = None) -> Optimization:
    """Search to `config.trials` finished trials (or the timeout), in this process or `config.workers` processes:
    first the finished trials of each `from_study` imported, then the enqueued specs and `points` queued, each said
    to `on_note`.

    Raises Stopped on SIGINT, SIGTERM or SIGHUP, once every running trial is failed and every worker has exited.
    """
    start = time.monotonic()
    with storage_errors(config.storage):
        if config.workers > 1:
            require_workers(config)  # N processes that would not fit are refused before anything is spawned
        study = open_study(config)  # refuse a changed spec before spawning anything
        warm_start(study, config, from_study, points, on_note or (lambda _: None))
        # nothing another study kept in the folder is where this study's next trials would keep theirs
        check_kept(config.out, study=config.study, first=len(study.get_trials(deepcopy=False)), force=config.force)
        if config.workers > 1:
            verdict = _run_parallel(config, study, on_progress)
        else:
            verdict = work(config, study=study, on_progress=on_progress)
    return Optimization(study, verdict, time.monotonic() - start)


def work(config: SearchConfig, *, study: optuna.Study | None = None, on_progress: Watcher | None = None) -> Verdict:
    """One worker's loop: claim a trial, settle it, tell the study; until the study has its trials.

    SIGINT, SIGTERM or SIGHUP (or the parent's death, see `liveness.die_with_parent`) stops it wherever it is:
    this worker's running trial is failed with the reason, and Stopped is raised.
    """
    with storage_errors(config.storage), stop_on_signals():
        study = study or open_study(config)
        load_trainer(config)  # before the first claim: seconds of imports inside a trial would outlast its heartbeats
        try:
            return _loop(config, study, on_progress)
        except (Stopped, KeyboardInterrupt) as stop:
            with claim_lock(config.storage, config.study):  # as reap_stale: no other worker judges them meanwhile
                fail_own(study, f"stopped: {stop.reason if isinstance(stop, Stopped) else 'interrupted'}")
            raise


def _loop(config: SearchConfig, study: optuna.Study, on_progress: Watcher | None) -> Verdict:
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
        report = settle(study, claim, config, on_epoch=notify)
        notify()
        rejected = rejected + 1 if report.outcome in record.REJECTED else 0
        if rejected >= config.max_rejections:
            raise SearchError(
                f"the last {rejected} proposals were all rejected before training (the last: {report.reason}); "
                "widen the space or the budgets"
            )


# --- several processes ---------------------------------------------------------------------------------------------


def _run_parallel(config: SearchConfig, study: optuna.Study, on_progress: Watcher | None) -> Verdict:
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
    workers: list[Any], errors: Any, study: optuna.Study, config: SearchConfig, on_progress: Watcher | None
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
    return sum(record.counts(trial) for trial in study.get_trials(deepcopy=False)) >= config.trials


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


def _worker_main(config: SearchConfig, index: int, errors: Any) -> None:
    """A spawned worker: its share of the cores, its GPU, its own storage connection, and one line back if it fails."""
    die_with_parent()  # first: a parent killed while this worker imports torch must not leave it behind
    try:
        import torch  # can fail (a too tight `ulimit -v`): one line too

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // config.workers))  # oversubscribed threads slow all
        gpus = torch.cuda.device_count() if config.device in ("auto", "cuda") else 0
        work(dataclasses.replace(config, device=worker_device(config.device, index, gpus=gpus)))
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


def worker_device(device: str, index: int, *, gpus: int) -> str:
    """The device of worker `index`: with `--device cuda` or `auto` and several visible GPUs, `cuda:{index % gpus}`
    (many trials per GPU when workers outnumber GPUs); otherwise `device` as given (one GPU is shared by all)."""
    if device in ("auto", "cuda") and gpus > 1:
        return f"cuda:{index % gpus}"
    return device


# --- how many fit in memory ----------------------------------------------------------------------------------------
# `--workers N` starts N processes that each import torch, hold the data set and train one network at a time; N that
# do not fit push the machine into swap or the OOM killer. An estimate: a measured runtime, the images the data hold
# (`archgen.data.held_images`: nothing is decoded) and a training step's memory (`archgen.analysis.footprint`);
# no torch is imported and nothing is read but a folder's file count.

MiB, GiB = 2**20, 2**30
RUNTIME = 1024 * MiB
"""Python with torch, optuna and the training pipeline imported, plus torch's thread pools and allocator once
a trial trains. Measured: a worker of `archgen search --workers 2 --device cpu` on the digits peaks at 0.94 GiB
resident (VmHWM; Linux x86-64, Python 3.11, torch 2.14 CUDA build), of which imports are 0.70 GiB; rounded up.
It holds footprint's FRAMEWORK_BYTES, which the step below therefore leaves out."""
MAPPED = 4 * GiB
"""Address space a worker maps (VmPeak 3.8 GiB, measured as above): the CUDA build of torch alone maps 3.2 GiB of
libraries at import. `ulimit -v` must allow this much to each process."""
IMAGE_COPIES = 2  # the images as read and as resized to the spec's size, both held while the data are prepared


@dataclass(frozen=True)
class WorkerMemory:
    """Resident bytes one worker holds, by what holds them."""

    runtime: int
    data: int
    network: int
    """Weights, their gradients and the optimiser's state (footprint's params, grads and optimizer_state)."""
    activations: int
    """The rest of a training step (footprint's): kept activations, the batch, backward's workspace, the allocator's
    share."""

    @property
    def total(self) -> int:
        return self.runtime + self.data + self.network + self.activations

    def __str__(self) -> str:
        return (f"{size(self.runtime)} for Python and torch, {size(self.data)} of images, {size(self.network)} "
                f"of weights and optimiser state, {size(self.activations)} of activations")


def require_workers(config: SearchConfig) -> None:
    """Refuse `config.workers` processes that would not fit in this machine's memory, in one line with the estimate."""
    each = worker_memory(config.spec, device=config.device)
    what = f"--workers {config.workers} (each about {size(each.total)}: {each})"
    require_processes(config.workers, each.total, what, mapped=MAPPED + each.total - each.runtime)


def worker_memory(spec: NetSpec, *, device: str) -> WorkerMemory:
    """What a worker training the largest trainable network of `spec`'s space holds in host memory.

    The network and its activations count only when they live in host memory (CPU, or Apple's unified memory);
    on a CUDA device they take GPU memory, which the trainer's out-of-memory handling looks after.
    """
    on_host = _on_host(device)
    return max((_estimate(candidate, on_host) for candidate in _candidates(spec)), key=lambda memory: memory.total)


def _estimate(spec: NetSpec, on_host: bool) -> WorkerMemory:
    # one eager training step in host memory, float32 (autocast is for GPUs only)
    step = footprint(spec, batch_size=spec.train.batch_size, precision="float32", device="cpu")
    network = step.params + step.grads + step.optimizer_state
    return WorkerMemory(
        runtime=RUNTIME,
        data=IMAGE_COPIES * _held_pixels(spec),
        network=network if on_host else 0,
        activations=step.total - step.framework - network if on_host else 0,  # the framework's is in RUNTIME
    )


def _held_pixels(spec: NetSpec) -> int:
    """The uint8 pixels of the images `spec`'s data hold, at the spec's size (the data decide channels); none for
    a source `archgen.data` will refuse anyway (each worker says why in one line)."""
    try:
        images, channels = held_images(parse_source(spec.train.data))
    except DataError:
        return 0
    return images * channels * spec.input.size**2


def _candidates(spec: NetSpec) -> list[NetSpec]:
    """The base network, and the space's largest corner if that is a valid spec within the budgets (an over-budget
    corner is never trained)."""
    assert spec.search is not None
    corner = try_trial_spec(spec, largest_point(spec.search), number=0, seed=spec.train.seed)
    if isinstance(corner, str) or not check_budget(spec.search, analyze(corner)).fits:
        return [spec]
    return [spec, corner]


def _on_host(device: str) -> bool:
    if device == "auto":  # the trainer picks CUDA when there is a GPU; its device nodes say so without torch
        return not Path("/dev/nvidiactl").exists()
    return not device.startswith("cuda")
