"""Checkpoints on disk: `checkpoints/step-NNNNNNNNN/` holding safetensors weights, a state file, a manifest and
(optionally) copies of other files the run depends on, such as its spec.

The manifest (written last) records each file's sha256 and where the state stands; a checkpoint whose
files or state do not match it is skipped for the previous good one. Every file is read within the most its kind
holds (`files.read_bounded`; the state's zip records by their declared sizes before torch inflates them), weights
must be finite real numbers, and the state file loads with `torch.load(weights_only=True)`, so a pickle planted in
its place cannot run code, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from archgen.errors import RunError, first_line, printable
from archgen.files import (
    Limit,
    check_zip,
    clear,
    describe,
    ensure_folder,
    fresh_folder,
    fsync_folder,
    read_bounded,
    sha256_of,
    write_atomic,
)
from archgen.training.record import SPEC, SPEC_LIMIT, WEIGHTS_LIMIT
from archgen.training.state import TrainState

WEIGHTS, STATE, MANIFEST = "weights.safetensors", "state.pt", "manifest.json"
FORMAT = 1
ZIP = b"PK\x03\x04"  # how a zip archive (torch.save's format) begins

# What each file of a checkpoint (and a run's final weights) can legitimately hold.
MANIFEST_LIMIT = Limit(2**16, f"a checkpoint's {MANIFEST} (a few sha256s and counters)")
REST_BYTES = 2**26  # a state's RNG states and its history of up to MAX_EPOCHS epochs, beside the optimiser's tensors


def state_limit(weights_bytes: int) -> Limit:
    """A checkpoint's state.pt beside weights of `weights_bytes`: an optimiser keeps at most two values a weight
    (Adam's moments) and a spare, plus the rest of the state (RNGs, the epochs' history)."""
    return Limit(3 * weights_bytes + REST_BYTES, f"the {STATE} of a checkpoint with {weights_bytes:,} bytes of "
                                                 "weights (an optimiser's state at most 3 times as big, and its RNGs "
                                                 "and history)")


LIMITS = {WEIGHTS: WEIGHTS_LIMIT, STATE: state_limit(WEIGHTS_LIMIT.most), MANIFEST: MANIFEST_LIMIT, SPEC: SPEC_LIMIT}
"""Any checkpoint's files, before they are looked into (a state is then held to its own weights' size)."""


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
    if _is_folder(final) and _verify(final) is None:
        return final  # already saved at this update (e.g. stopped right after resuming)
    staging = folder / f".{final.name}.partial"  # a fixed name: the next save clears what a killed one left
    buffer = io.BytesIO()
    torch.save(state.rest(), buffer)
    files = {WEIGHTS: save_safetensors({name: tensor.contiguous() for name, tensor in state.weights.items()}),
             STATE: buffer.getvalue(), **(extra or {})}
    manifest = {"format": FORMAT, "epoch": state.epoch, "step": state.step, "updates": state.updates,
                "sha256": {name: _sha256(data) for name, data in files.items()}}
    try:
        ensure_folder(folder, parents=True)
        fresh_folder(staging)  # made by this save: whatever was planted at the name is removed, never followed
        for name, data in files.items():
            write_atomic(staging / name, data)
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=1).encode())
        clear(final)
        staging.rename(final)
        fsync_folder(folder)
    except OSError as error:
        _discard(staging)
        raise RunError(f"cannot write checkpoint {final}: {describe(error)}") from None
    except RunError:  # a file of it could not be written (full disk, size limit): it names the file and errno
        _discard(staging)
        raise
    _prune(folder, keep)
    return final


def load_latest(folder: Path) -> Loaded:
    """The newest checkpoint whose files match their manifest; older ones are tried when a newer one is damaged."""
    skipped: list[str] = []
    for path in sorted(folder.glob("step-*"), reverse=True):
        problem = _verify(path) if _is_folder(path) else "not a folder (a link or a file: never followed)"
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
    limit = state_limit(sum(tensor.numel() * tensor.element_size() for tensor in weights.values()))
    data = read_bounded(path / STATE, limit)
    if data[:4] == ZIP:
        check_zip(data, printable(str(path / STATE)), limit)
    try:
        rest = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses anything but tensors and plain values
        raise RunError(f"{path / STATE} is not a plain checkpoint state, refused to load it "
                       f"({first_line(error)})") from None
    try:
        state = TrainState.from_parts(weights, rest)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunError(f"{path / STATE} is not an archgen checkpoint state ({type(error).__name__}: "
                       f"{first_line(error)})") from None
    manifest = json.loads(read_bounded(path / MANIFEST, MANIFEST_LIMIT))
    where = {key: manifest[key] for key in ("epoch", "step", "updates")}
    if where != {"epoch": state.epoch, "step": state.step, "updates": state.updates}:
        raise RunError(f"{path / MANIFEST} says {where}, its state epoch={state.epoch}, step={state.step}, "
                       f"updates={state.updates} (corrupted)")
    return state


def _verify(path: Path) -> str | None:
    """None when the manifest is whole and every file matches it, else what is wrong."""
    try:
        manifest = json.loads(read_bounded(path / MANIFEST, MANIFEST_LIMIT))
        expected = manifest["sha256"]
        if manifest["format"] != FORMAT or not {WEIGHTS, STATE} <= set(expected):
            return f"{MANIFEST} is not a format-{FORMAT} manifest of {WEIGHTS} and {STATE} (corrupted)"
        for name in expected:
            if name not in LIMITS or name == MANIFEST:
                return f"{MANIFEST} names {printable(str(name))}, not a file of a checkpoint (corrupted)"
            if sha256_of(path / name, LIMITS[name]) != expected[name]:
                return f"{name} does not match its sha256 in {MANIFEST} (truncated or corrupted)"
        for key in ("epoch", "step", "updates"):
            if not isinstance(manifest[key], int):
                return f"{MANIFEST}: {key} is not an integer (corrupted)"
    except RunError as error:  # unreadable, or larger than its kind holds: the message names the file
        return str(error)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        return f"unreadable ({type(error).__name__}: {first_line(error)})"
    return None


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a checkpoint's, or a run's final weights); a RunError naming the file if
    it cannot be read, is no safetensors file, or holds a value no network's weights hold (`check_values`).
    safetensors parses a header and raw tensors: no code runs."""
    data = read_bounded(path, WEIGHTS_LIMIT)
    try:
        tensors = load_safetensors(data)
    except Exception as error:  # whatever the bytes: a header that does not parse, sizes that do not add up
        raise RunError(f"{path} is not a safetensors file ({first_line(error)})") from None
    check_values(tensors, printable(str(path)))
    return tensors


def check_values(tensors: Mapping[str, torch.Tensor], shown: str) -> None:
    """Refuse, naming the file and the first tensor, weights no network holds: complex or boolean values, or
    floating-point ones that are not all finite (found now, not an epoch later as a loss gone NaN)."""
    for name, tensor in tensors.items():
        if tensor.is_complex() or tensor.dtype == torch.bool:
            raise RunError(f"{shown}: {printable(name)} is {tensor.dtype}; weights are real numbers (floating "
                           "point, or integer counters such as num_batches_tracked)")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise RunError(f"{shown}: {printable(name)} holds NaN or infinite values; weights must be finite (a "
                           "damaged file, or one saved from a run that diverged)")


def _is_folder(path: Path) -> bool:
    """A real folder (a link to one is not: a checkpoint is never read through a link)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _discard(staging: Path) -> None:
    with contextlib.suppress(OSError):
        clear(staging)


def _prune(folder: Path, keep: int) -> None:
    for old in sorted(folder.glob("step-*"), reverse=True)[keep:]:
        _discard(old)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
