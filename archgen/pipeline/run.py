"""One training run and its folder (if any): resuming from the newest good checkpoint, checkpointing,
the final weights and summary.json. Called by `training`; the folder's files are `archgen.runs`' business.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as save_safetensors

from archgen.analysis import analyze
from archgen.data import Loaders
from archgen.errors import ArchgenError, RunError
from archgen.pipeline.edits import check_fits, check_unedited
from archgen.pipeline.fitting import Fitted
from archgen.pipeline.result import Plan, TrainResult
from archgen.runs import RunFolder
from archgen.train import (
    Callbacks,
    Engine,
    EpochMetrics,
    Processes,
    StepProgress,
    StopRequest,
    TrainingStopped,
    TrainState,
    fit,
)

VERSION = importlib.metadata.version("archgen")
OnEpoch = Callable[[EpochMetrics], None]
OnStep = Callable[[StepProgress], None]
OnStart = Callable[[Plan], None]


@dataclass(frozen=True)
class Listeners:
    on_start: OnStart | None = None
    on_step: OnStep | None = None
    on_epoch: OnEpoch | None = None


class Run:
    """One training run and its folder (if any): resuming, checkpointing, the final weights and summary."""

    def __init__(self, folder: RunFolder | None, resume: TrainState | None, notes: tuple[str, ...],
                 processes: Processes, writes: bool) -> None:
        self.folder, self.resume, self.notes, self.processes, self.writes = folder, resume, notes, processes, writes

    @classmethod
    def begin(cls, fitted: Fitted, *, out: Path | None, folder: RunFolder | None, processes: Processes,
              engine: Engine) -> Run:
        if folder is not None:  # resuming: every process reads the newest good checkpoint
            folder.check_unfinished()
            loaded = folder.latest_checkpoint()
            notes = tuple(f"skipped damaged checkpoint {problem}" for problem in loaded.skipped)
            if loaded.state is None and loaded.skipped:  # never silently start over on top of damaged checkpoints
                raise RunError(f"no good checkpoint to resume {folder.path} from: {'; '.join(loaded.skipped)} "
                               "(move the checkpoints folder away to train the run again from the start)")
            if loaded.state is None:
                folder.check_nothing_recorded()  # starting over must never cut finished epochs away
                notes += ("no checkpoint yet (stopped before the first one): starting from the beginning",)
            else:
                assert loaded.path is not None
                check_unedited(folder.spec_path(), loaded.path)
                check_fits(loaded.state, engine, loaded.path)
            if processes.main:  # fail before training if the folder cannot take the files
                folder.check_writable()
                folder.check_space(_checkpoint_bytes(engine))
            return cls(folder if processes.main else None, loaded.state, fitted.notes + notes, processes, True)
        if out is None:
            return cls(None, None, fitted.notes, processes, False)
        created = RunFolder.create(out, fitted.spec.name) if processes.main else None
        if created is not None:  # fail before training if the folder cannot take the files
            created.write_spec(fitted.spec, header=f"The spec and recipe of run {created.path.name}, resolved by "
                                                   f"archgen {VERSION}.\nRetrain as is: archgen train spec.toml")
            created.check_space(_checkpoint_bytes(engine))
        return cls(created, None, fitted.notes, processes, True)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        if self.folder is None:
            yield
            return
        with self.folder:
            yield

    def train(self, fitted: Fitted, loaders: Loaders, engine: Engine, listeners: Listeners,
              stop: StopRequest | None, checkpoint_seconds: float | None) -> TrainResult:
        cost = analyze(fitted.spec)
        main = self.processes.main
        if main and listeners.on_start is not None:
            listeners.on_start(self._plan(fitted, loaders, engine, cost.params, cost.macs))
        callbacks = Callbacks(
            on_epoch=listeners.on_epoch if main else None,
            on_step=listeners.on_step if main else None,
            on_checkpoint=self._checkpoint if self.folder is not None else None,
            checkpoint_seconds=checkpoint_seconds,
        )
        began, status = time.time(), "failed"
        try:
            history = fit(engine, loaders.train, loaders.val, epochs=fitted.spec.train.epochs,
                          resume=self.resume, callbacks=callbacks, stop=stop)
            status = "finished"
        except TrainingStopped as error:
            status = "stopped"
            if self.folder is not None:
                raise TrainingStopped(f"{error}; checkpoint saved, continue with: archgen train --resume "
                                      f"{self.folder.path}", signal_number=error.signal_number) from None
            raise
        except BaseException as error:
            status = f"failed: {error}" if isinstance(error, ArchgenError) else f"stopped: {type(error).__name__}"
            raise
        finally:
            self._summarise(fitted, loaders, engine, cost.params, cost.macs, status, time.time() - began)
        return TrainResult(fitted.spec, history, cost.params, cost.macs, self.folder.path if self.folder else None)

    def _checkpoint(self, state: TrainState) -> None:
        assert self.folder is not None
        self.folder.save_checkpoint(state)
        self.folder.write_metrics(state.history)

    def _plan(self, fitted: Fitted, loaders: Loaders, engine: Engine, params: int, macs: int) -> Plan:
        data, resume = fitted.data, self.resume
        return Plan(
            spec=fitted.spec, data=data.source, train_images=len(data.train), val_images=len(data.val),
            image_shape=(data.channels, data.size, data.size), classes=data.classes, device=str(engine.device),
            world=self.processes.world, batch_size=fitted.spec.train.batch_size, steps_per_epoch=len(loaders.train),
            params=params, macs=macs, run_dir=self.folder.path if self.folder else None,
            start_epoch=resume.epoch if resume else 0, start_step=resume.step if resume else 0, notes=self.notes,
        )

    def _summarise(self, fitted: Fitted, loaders: Loaders, engine: Engine, params: int, macs: int,
                   status: str, seconds: float) -> None:
        if self.folder is None:
            return
        summary: dict[str, Any] = {"name": fitted.spec.name, "status": status, "data": fitted.data.source}
        if status == "finished":
            state = engine.module.state_dict()
            weights = save_safetensors({name: tensor.detach().cpu().contiguous() for name, tensor in state.items()})
            self.folder.write_weights(weights)
            summary["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        history = self.folder.metrics() if (self.folder.path / "metrics.jsonl").exists() else ()
        summary.update(
            epochs=fitted.spec.train.epochs, epochs_done=len(history), params=params, macs=macs,
            final_train_error=history[-1].train_error if history else None,
            final_val_error=history[-1].val_error if history else None,
            best_val_error=min((m.val_error for m in history), default=None),
            device=str(engine.device), world_size=self.processes.world, batch_size=fitted.spec.train.batch_size,
            batch_per_process=loaders.train.batch_size, samples_per_process=loaders.train.samples,
            steps_per_epoch=len(loaders.train), updates=engine.updates, train_images=len(fitted.data.train),
            val_images=len(fitted.data.val), seconds=round(seconds, 3), archgen=VERSION,
            torch=torch.__version__,
        )
        # when training failed, that error says more: a full disk must not hide it
        with contextlib.suppress(RunError) if status != "finished" else contextlib.nullcontext():
            self.folder.write_summary(summary)


def _checkpoint_bytes(engine: Engine) -> int:
    """About one checkpoint: weights and buffers, plus the optimiser's per-parameter state (<= 2 copies)."""
    weights = sum(t.numel() * t.element_size() for t in engine.module.state_dict().values())
    return 3 * weights + 65536
