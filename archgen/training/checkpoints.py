"""Checkpoints on disk: `checkpoints/step-NNNNNNNNN/` holding safetensors weights, a state file, a manifest and
(optionally) copies of other files the run depends on, such as its spec.

The manifest (written last) records each file's sha256 and where the state stands; a checkpoint whose
files or state do not match it is skipped for the previous good one. The state file loads with
`torch.load(weights_only=True)`, so a pickle planted in its place cannot run code, whatever
TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from archgen.errors import RunError, first_line
from archgen.files import describe, fsync_folder, write_atomic
from archgen.training.state import TrainState

WEIGHTS, STATE, MANIFEST = "weights.safetensors", "state.pt", "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Loaded:
    """The newest good checkpoint (None: there is none) and why any newer one was passed over."""

    state: TrainState | None
    path: Path | None
    skipped: tuple[str, ...] = ()


def save_checkpoint(
    folder: Path, state: TrainState, *, keep: int = 2, extra: Mapping[str, bytes] | None = None
) -> Path:
    """Write `state` (and `extra` files by name) as a new checkpoint under `folder`, atomically as a whole; keep the
    newest `keep`. A write that fails leaves the previous checkpoints as they were and nothing half written."""
    final = folder / f"step-{state.updates:09d}"
    if final.exists() and _verify(final) is None:
        return final  # already saved at this update (e.g. stopped right after resuming)
    staging = folder / f".{final.name}.partial"
    buffer = io.BytesIO()
    torch.save(state.rest(), buffer)
    files = {WEIGHTS: save_safetensors({name: tensor.contiguous() for name, tensor in state.weights.items()}),
             STATE: buffer.getvalue(), **(extra or {})}
    manifest = {"format": FORMAT, "epoch": state.epoch, "step": state.step, "updates": state.updates,
                "sha256": {name: _sha256(data) for name, data in files.items()}}
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, data in files.items():
            write_atomic(staging / name, data)
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        fsync_folder(folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise RunError(f"cannot write checkpoint {final}: {describe(error)}") from None
    except RunError:  # a file of it could not be written (full disk, size limit): it names the file and errno
        shutil.rmtree(staging, ignore_errors=True)
        raise
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
    """The checkpoint's state; a RunError when its files, though they match the manifest, are not what we write
    (hand-made or planted: the manifest's sha256s are no signature)."""
    weights = read_weights(path / WEIGHTS)
    try:
        rest = torch.load(io.BytesIO(_read_regular(path / STATE)), map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses anything but tensors and plain values
        raise RunError(f"{path / STATE} is not a plain checkpoint state, refused to load it "
                       f"({first_line(error)})") from None
    try:
        state = TrainState.from_parts(weights, rest)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunError(f"{path / STATE} is not an archgen checkpoint state ({type(error).__name__}: "
                       f"{first_line(error)})") from None
    manifest = json.loads(_read_regular(path / MANIFEST))
    where = {key: manifest[key] for key in ("epoch", "step", "updates")}
    if where != {"epoch": state.epoch, "step": state.step, "updates": state.updates}:
        raise RunError(f"{path / MANIFEST} says {where}, its state epoch={state.epoch}, step={state.step}, "
                       f"updates={state.updates} (corrupted)")
    return state


def _verify(path: Path) -> str | None:
    """None when the manifest is whole and every file matches it, else what is wrong."""
    try:
        manifest = json.loads(_read_regular(path / MANIFEST))
        expected = manifest["sha256"]
        if manifest["format"] != FORMAT or not {WEIGHTS, STATE} <= set(expected):
            return f"{MANIFEST} is not a format-{FORMAT} manifest of {WEIGHTS} and {STATE} (corrupted)"
        for name in expected:
            if "/" in name or name.startswith(".") or _sha256(_read_regular(path / name)) != expected[name]:
                return f"{name} does not match its sha256 in {MANIFEST} (truncated or corrupted)"
        for key in ("epoch", "step", "updates"):
            if not isinstance(manifest[key], int):
                return f"{MANIFEST}: {key} is not an integer (corrupted)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return f"unreadable ({type(error).__name__}: {first_line(error)})"
    return None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a checkpoint's, or a run's final weights); a RunError naming the file if
    it cannot be read or is no safetensors file. safetensors parses a header and raw tensors: no code runs."""
    try:
        data = _read_regular(path)
    except OSError as error:
        raise RunError(f"cannot read {path}: {describe(error)}") from None
    try:
        return load_safetensors(data)
    except Exception as error:  # whatever the bytes: a header that does not parse, sizes that do not add up
        raise RunError(f"{path} is not a safetensors file ({first_line(error)})") from None


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file; a device or FIFO (a planted link to /dev/zero would never end) is an OSError."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return file.read()


def _prune(folder: Path, keep: int) -> None:
    for old in sorted(folder.glob("step-*"), reverse=True)[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
