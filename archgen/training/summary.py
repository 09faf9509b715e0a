"""What a run was, written when it ends however it ends: summary.json (status, sizes, errors, where and how it ran)
and, for a finished run, its final weights.safetensors with their sha256."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import torch
from safetensors.torch import save as save_safetensors

from archgen.errors import RunError
from archgen.training.folder import RunFolder
from archgen.training.preprocessing import METADATA_KEY, recorded
from archgen.training.record import VERSION
from archgen.training.setup import Setup


def summarise(folder: RunFolder | None, setup: Setup, *, status: str, seconds: float) -> None:
    """summary.json (and the final weights when `status` is "finished") in `folder`; nothing without one. A run
    that failed says why in its summary, and a summary that cannot be written (a full disk) never hides that error."""
    if folder is None:
        return
    summary: dict[str, Any] = {"name": setup.spec.name, "status": status, "data": setup.fitted.data.source}
    if status == "finished":
        summary["weights_sha256"] = _write_weights(folder, setup)
    history = folder.metrics() if folder.has_metrics() else ()
    engine, loaders, data = setup.engine, setup.loaders, setup.fitted.data
    summary.update(
        epochs=setup.spec.train.epochs, epochs_done=len(history), params=setup.cost.params, macs=setup.cost.macs,
        final_train_error=history[-1].train_error if history else None,
        final_val_error=history[-1].val_error if history else None,
        best_val_error=min((m.val_error for m in history), default=None),
        device=str(engine.device), world_size=engine.world, batch_size=setup.spec.train.batch_size,
        batch_per_process=loaders.train.batch_size, samples_per_process=loaders.train.samples,
        steps_per_epoch=len(loaders.train), updates=engine.updates, train_images=len(data.train),
        val_images=len(data.val), seconds=round(seconds, 3), archgen=VERSION, torch=torch.__version__,
        cuda_graphs=setup.step.captured,
    )
    with contextlib.suppress(RunError) if status != "finished" else contextlib.nullcontext():
        folder.write_summary(summary)


def _write_weights(folder: RunFolder, setup: Setup) -> str:
    """weights.safetensors: the trained module's parameters and buffers, and in its metadata the preprocessing
    record (the weights carry what feeds them); returns their sha256."""
    state = setup.engine.module.state_dict()
    record = recorded(setup.spec, setup.fitted.data, mean=setup.loaders.mean, std=setup.loaders.std)
    weights = save_safetensors({name: tensor.detach().cpu().contiguous() for name, tensor in state.items()},
                               metadata={METADATA_KEY: record.dumps()})
    folder.write_weights(weights)
    return hashlib.sha256(weights).hexdigest()
