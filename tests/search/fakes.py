"""Fake trainers with the search's call of `archgen.training.train`, `(spec, *, device, listener)`, for tests about the
search machinery: the spec carries its epochs, seed and data; the listener hears `on_epoch(metrics)` per epoch.

Module-level functions, so spawned workers can unpickle them. Each call appends one JSON line to the
file named by $ARCHGEN_FAKE_LOG (which specs were trained, by which process) and sleeps
$ARCHGEN_FAKE_SLEEP seconds per epoch; with $ARCHGEN_FAKE_HANG_AFTER=k a process hangs in its (k+1)th trial,
after writing its pid to $ARCHGEN_FAKE_MARKER (so a test can SIGKILL it mid-trial).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archgen.analysis import analyze
from archgen.spec.schema import NetSpec


@dataclass(frozen=True)
class FakeMetrics:
    epoch: int
    train_loss: float
    train_error: float
    val_loss: float
    val_error: float
    lr: float
    images_per_second: float
    seconds: float


def _log(spec: NetSpec, **extra: Any) -> None:
    path = os.environ.get("ARCHGEN_FAKE_LOG")
    if path:
        line = json.dumps({"name": spec.name, "pid": os.getpid(), "params": analyze(spec).params,
                           "epochs": spec.train.epochs, "seed": spec.train.seed, **extra})
        with Path(path).open("a") as handle:
            handle.write(line + "\n")


def error_of(spec: NetSpec, epoch: int) -> float:
    """A deterministic validation error: bigger nets and more epochs do better."""
    params = analyze(spec).params
    return min(0.9, 0.5 / (1 + params / 20_000) / epoch**0.5 + 0.01 * abs(spec.train.lr - 0.1))


CALLS = []


def _await_quorum() -> None:
    """ARCHGEN_FAKE_QUORUM=DIR:N: a worker's first training waits (a minute at most) until N workers have reached
    theirs, so that a test of workers sharing a study does not hang on which one finished importing torch first (a
    fast one used to train every trial before the others had started)."""
    quorum = os.environ.get("ARCHGEN_FAKE_QUORUM")
    if not quorum or len(CALLS) > 1:
        return
    folder, _, count = quorum.rpartition(":")
    (Path(folder) / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(Path(folder).iterdir())) < int(count) and time.monotonic() < deadline:
        time.sleep(0.02)


def fake_train(spec: NetSpec, *, device: str, listener: Any) -> None:
    CALLS.append(spec.name)
    _await_quorum()
    hang_after = os.environ.get("ARCHGEN_FAKE_HANG_AFTER")
    if hang_after is not None and len(CALLS) > int(hang_after):
        Path(os.environ["ARCHGEN_FAKE_MARKER"]).write_text(f"{os.getpid()} {spec.name}")
        time.sleep(3600)
    _log(spec, device=device)
    sleep = float(os.environ.get("ARCHGEN_FAKE_SLEEP", "0"))
    for epoch in range(1, spec.train.epochs + 1):
        time.sleep(sleep)
        error = error_of(spec, epoch)
        if listener is not None:
            listener.on_epoch(FakeMetrics(epoch, error * 2, error, error * 2, error, spec.train.lr, 1000.0, sleep))


def nan_when_fast(spec: NetSpec, *, device: str, listener: Any) -> None:
    """Like fake_train, but the loss goes NaN whenever the learning rate is above 0.2."""
    from archgen.training import NonFiniteLoss

    if spec.train.lr > 0.2:
        _log(spec, nan=True)
        raise NonFiniteLoss(f"loss became nan at lr {spec.train.lr}", epoch=1, step=3)
    fake_train(spec, device=device, listener=listener)


def broken(spec: NetSpec, *, device: str, listener: Any) -> None:
    """A trainer with a bug: the search must stop with one line, not hang."""
    raise ZeroDivisionError("division by zero in a trainer")


def counting_train(spec: NetSpec, *, device: str, listener: Any) -> Any:
    """The real trainer, recording how many tensors are alive before each trial (memory must stay flat)."""
    import gc

    import torch

    from archgen.training import train

    gc.collect()
    LIVE_TENSORS.append(sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor)))
    return train(spec, device=device, listener=listener)


LIVE_TENSORS: list[int] = []


def keeping_train(spec: NetSpec, *, device: str, listener: Any) -> None:
    """fake_train, telling the listener what the real trainer tells it around the epochs: the plan first (the fitted
    spec), the untrained built network last, so a search that grows keeps its files (weights, spec) as it would."""
    from archgen.compile import build_model
    from archgen.training import RunPlan

    cost = analyze(spec)
    listener.on_start(RunPlan(spec=spec, data=spec.train.data, train_images=100, val_images=20,
                              image_shape=(spec.input.channels, spec.input.size, spec.input.size),
                              classes=spec.input.classes, device=device, world=1, batch_size=spec.train.batch_size,
                              steps_per_epoch=2, params=cost.params, macs=cost.macs, run_dir=None))
    fake_train(spec, device=device, listener=listener)
    listener.on_trained(build_model(spec))
