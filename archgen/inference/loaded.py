"""A run folder loaded for use: its network with the newest weights it has (weights.safetensors, else the newest
checkpoint of a run still training), in eval mode, and its preprocessing record, checked against the spec and the
copy in the weights. Reads the folder only: never writes, never takes the lock a training holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from archgen.compile import build_model
from archgen.errors import ArchgenError, RunError, printable
from archgen.inference.inputs import check_run, given_record
from archgen.inference.preprocess import Preprocess
from archgen.spec import read_spec
from archgen.spec.schema import NetSpec
from archgen.training.checkpoints import load_latest, read_weights
from archgen.training.preprocessing import PREPROCESSING, Preprocessing, read_record, weights_record
from archgen.training.record import CHECKPOINTS, SPEC, WEIGHTS
from archgen.training.resume import listed, weight_problems


@dataclass(frozen=True)
class TrainedNet:
    """A trained network ready to use: `model` (eval mode, on the CPU), `preprocess` (image -> input tensor) and the
    class names of its outputs, in label order."""

    model: nn.Module
    preprocess: Preprocess
    spec: NetSpec
    run: Path
    weights: str
    """Which weights were loaded: weights.safetensors, or a checkpoint of a run not finished."""
    notes: tuple[str, ...] = ()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.preprocess.class_names

    @property
    def record(self) -> Preprocessing:
        return self.preprocess.record

    @torch.no_grad()
    def probabilities(self, inputs: Tensor) -> Tensor:
        """(B, classes) softmax outputs of (B, C, S, S) inputs; of (B, 10, C, S, S) ten crops, the mean of the crops'
        softmax outputs (as evaluation scores them)."""
        device = next(self.model.parameters()).device
        crops = inputs.shape[1] if inputs.dim() == 5 else 0
        flat = (inputs.flatten(0, 1) if crops else inputs).to(device).contiguous()
        probabilities = self.model(flat).float().softmax(-1)
        return probabilities.unflatten(0, (-1, crops)).mean(1) if crops else probabilities


def load(run: str | Path, *, preprocessing: str | Path | Preprocessing | None = None) -> TrainedNet:
    """The trained net of run folder `run` with its recorded preprocessing (or `preprocessing`, a record or a JSON
    file of one, for a run trained before archgen recorded it). One RunError line for anything missing or edited."""
    folder = Path(run)
    check_run(folder)
    given = given_record(preprocessing)
    spec = _spec(folder)
    tensors, weights, notes = _weights(folder)
    record = given or _record(folder)
    _check_fits(record, spec, folder)
    model = build_model(spec)
    problems = weight_problems(tensors, model)
    if problems:
        raise RunError(f"{printable(str(folder))}: its weights do not fit the network its {SPEC} builds: "
                       f"{listed(problems)} (was {SPEC} edited?)")
    model.load_state_dict(tensors)
    return TrainedNet(model.eval(), Preprocess(record), spec, folder, weights, notes)


def _spec(folder: Path) -> NetSpec:
    try:
        return read_spec(folder / SPEC)
    except ArchgenError as error:
        raise RunError(f"{printable(str(folder / SPEC))}: {error}") from None


def _weights(folder: Path) -> tuple[dict[str, Tensor], str, tuple[str, ...]]:
    """The final weights, else the newest good checkpoint's (a run still training, stopped or killed), said so."""
    shown = printable(str(folder))
    if os.path.lexists(folder / WEIGHTS):
        return read_weights(folder / WEIGHTS), WEIGHTS, ()
    loaded = load_latest(folder / CHECKPOINTS)
    if loaded.state is None or loaded.path is None:
        damaged = f" ({'; '.join(loaded.skipped)})" if loaded.skipped else ""
        raise RunError(f"{shown}: no weights yet: no {WEIGHTS} and no good checkpoint{damaged}; train the run, or "
                       "wait for its first checkpoint")
    state, name = loaded.state, loaded.path.name
    epochs = f"epoch {state.epoch + 1}, step {state.step}" if state.step else f"{state.epoch} epochs done"
    note = (f"{shown} has no {WEIGHTS} (still training, stopped or killed): using its newest checkpoint, "
            f"{name} ({epochs})")
    return state.weights, f"{CHECKPOINTS}/{name}", (note,)


def _record(folder: Path) -> Preprocessing:
    """The run's preprocessing record: preprocessing.json checked against the weights' copy (or that copy alone)."""
    path, weights = folder / PREPROCESSING, folder / WEIGHTS
    copy = weights_record(weights) if os.path.lexists(weights) else None
    if not os.path.lexists(path):
        if copy is not None:
            return copy
        raise RunError(f"{printable(str(folder))}: no preprocessing record ({PREPROCESSING}): the run was trained "
                       f"before archgen recorded one; retrain it (archgen train {printable(str(folder / SPEC))}), or "
                       "pass the values as a file: --preprocessing FILE (docs/using-a-trained-net.md)")
    record = read_record(path)
    if copy is not None and copy != record:
        raise RunError(f"{printable(str(path))}: differs from the copy in the metadata of {WEIGHTS} (edited after the "
                       "run wrote it?); restore it, or pass the values you mean: --preprocessing FILE")
    return record


def _check_fits(record: Preprocessing, spec: NetSpec, folder: Path) -> None:
    """The record must describe the network's input: channels, size and classes."""
    wanted = spec.input
    found = {"channels": (record.channels, wanted.channels), "size": (record.size, wanted.size),
             "classes": (len(record.class_names), wanted.classes)}
    wrong = [f"{name} {mine} (the spec: {theirs})" for name, (mine, theirs) in found.items() if mine != theirs]
    if wrong:
        raise RunError(f"{printable(str(folder))}: the preprocessing record does not fit the network of its {SPEC}: "
                       f"{', '.join(wrong)}")
