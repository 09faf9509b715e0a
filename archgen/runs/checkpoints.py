"""Checkpoints on disk: `checkpoints/step-NNNNNNNNN/` holding safetensors weights, a state file and a manifest.

The manifest (written last) records each file's sha256; a checkpoint whose files do not match is
skipped for the previous good one. The state file loads with `torch.load(weights_only=True)`, so a
pickle planted in its place cannot run code, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from archgen.errors import RunError
from archgen.runs.atomic import describe, fsync_folder, write_atomic
from archgen.train.state import TrainState

WEIGHTS, STATE, MANIFEST = "weights.safetensors", "state.pt", "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Loaded:
    """The newest good checkpoint (None: there is none) and why any newer one was passed over."""

    state: TrainState | None
    path: Path | None
    skipped: tuple[str, ...] = ()


def save_checkpoint(folder: Path, state: TrainState, *, keep: int = 2) -> Path:
    """Write `state` as a new checkpoint under `folder`, atomically as a whole; keep the newest `keep`."""
    final = folder / f"step-{state.updates:09d}"
    if final.exists() and _verify(final) is None:
        return final  # already saved at this update (e.g. stopped right after resuming)
    staging = folder / f".{final.name}.partial"
    weights = save_safetensors({name: tensor.contiguous() for name, tensor in state.weights.items()})
    buffer = io.BytesIO()
    torch.save(state.rest(), buffer)
    manifest = {"format": FORMAT, "epoch": state.epoch, "step": state.step, "updates": state.updates,
                "sha256": {WEIGHTS: _sha256(weights), STATE: _sha256(buffer.getvalue())}}
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write_atomic(staging / WEIGHTS, weights)
        write_atomic(staging / STATE, buffer.getvalue())
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        fsync_folder(folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise RunError(f"cannot write checkpoint {final}: {describe(error)}") from None
    _prune(folder, keep)
    return final


def load_latest(folder: Path) -> Loaded:
    """The newest checkpoint whose files match their manifest; older ones are tried when a newer one is damaged."""
    skipped: list[str] = []
    for path in sorted(folder.glob("step-*"), reverse=True):
        problem = _verify(path)
        if problem is None:
            try:
                return Loaded(_read(path), path, tuple(skipped))
            except RunError as error:
                problem = str(error)
        skipped.append(f"{path}: {problem}")
    return Loaded(None, None, tuple(skipped))


def _read(path: Path) -> TrainState:
    weights = load_safetensors((path / WEIGHTS).read_bytes())
    try:
        rest = torch.load(io.BytesIO((path / STATE).read_bytes()), map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses anything but tensors and plain values
        reason = str(error).splitlines()[0]
        raise RunError(f"{path / STATE} is not a plain checkpoint state, refused to load it ({reason})") from None
    return TrainState.from_parts(weights, rest)


def _verify(path: Path) -> str | None:
    """None when every file matches the manifest, else what is wrong."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        expected = manifest["sha256"]
        for name in (WEIGHTS, STATE):
            if _sha256((path / name).read_bytes()) != expected[name]:
                return f"{name} does not match its sha256 in {MANIFEST} (truncated or corrupted)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable ({type(error).__name__}: {error})"
    return None


def _prune(folder: Path, keep: int) -> None:
    for old in sorted(folder.glob("step-*"), reverse=True)[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
