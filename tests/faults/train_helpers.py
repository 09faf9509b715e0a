"""What the training fault tests share: a tiny spec, `archgen` in a subprocess (maybe under train_wrapper's faults)
or in this process, weights' sha256, planted pickles and the ways to damage a file.

Every training run uses one thread, so a run in a subprocess and one in this process sum floats alike and
their weights can be compared bitwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import in_process
import torch
from in_process import Outcome
from tiny import tiny_toml

WRAPPER = Path(__file__).with_name("train_wrapper.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count everywhere: the same float sums
EPOCHS, STEPS = 3, 23  # digits: 1,437 training images in batches of 64
TINY = tiny_toml(epochs=EPOCHS)  # tests/helpers/tiny.py: the same tiny CIFAR-style net the other tests train


def write_tiny(folder: Path, text: str = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.toml"
    path.write_text(text)
    return path


def archgen(*args: str, faults: tuple[str, ...] = (), env: dict[str, str] | None = None,
            preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m archgen ARGS` (or the wrapper with `faults` planted) in a subprocess, one thread."""
    command = [sys.executable, str(WRAPPER), *faults, "--"] if faults else [sys.executable, "-m", "archgen"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600, env=env or ENV,
                          preexec_fn=preexec_fn)


def archgen_here(*args: str) -> Outcome:
    """`archgen ARGS` through its real entry point and error boundary, in this process, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return in_process.archgen_here(*args)
    finally:
        torch.set_num_threads(threads)


def only_run(out: Path) -> Path:
    (spec,) = out.glob("*/spec.toml")
    return spec.parent


def weights_sha(run: Path) -> str:
    return hashlib.sha256((run / "weights.safetensors").read_bytes()).hexdigest()


def checkpoints(run: Path) -> list[str]:
    return sorted(path.name for path in (run / "checkpoints").glob("step-*"))


def leftovers(run: Path) -> list[str]:
    """Half-written things a kill leaves: staging folders and temporary files."""
    return sorted(str(path.relative_to(run)) for path in run.rglob(".*") if path.name != ".lock")


def epochs_recorded(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def one_error_line(outcome: Outcome | subprocess.CompletedProcess[str]) -> str:
    """The single `error: …` line a bad input must produce, with no traceback anywhere."""
    stderr = outcome.stderr
    assert "Traceback" not in stderr and "Traceback" not in outcome.stdout, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# --- damage ------------------------------------------------------------------------------------


def truncate_to_zero(path: Path, seed: int) -> None:
    path.write_bytes(b"")


def truncate_to_half(path: Path, seed: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_one_bit(path: Path, seed: int) -> None:
    """One bit at a seeded random offset: the smallest corruption a disk or a copy can make."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    offset = rng.randrange(len(data))
    data[offset] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def forge_manifest(checkpoint: Path) -> None:
    """An attacker (or a careless tool) who also rewrites the manifest's sha256s to match the files."""
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for name in manifest["sha256"]:
        manifest["sha256"][name] = hashlib.sha256((checkpoint / name).read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


# --- planted pickles ---------------------------------------------------------------------------


class Planted:
    """Unpickling this creates `marker`: a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


def plant(path: Path, marker: Path, *, as_zip: bool) -> None:
    """A malicious pickle in `path`: raw (pickle.dumps) or in torch.save's zip container."""
    payload = {"epoch": Planted(marker), "weights": Planted(marker)}
    if as_zip:
        with open(path, "wb") as file:
            torch.save(payload, file)
    else:
        import pickle

        path.write_bytes(pickle.dumps(payload))


# --- an unprivileged child ---------------------------------------------------------------------


def without_root_overrides() -> None:
    """Permission bits hold for root too: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set
    (taking effect at exec), so a root child cannot write a 0555 folder (chmod alone does not stop root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process, as a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    modes = [path.stat().st_mode for path in paths]
    for path in paths:
        path.chmod(0o555)
    try:
        yield
    finally:
        for path, mode in zip(paths, modes, strict=True):
            path.chmod(mode)


# --- checkpoints without training --------------------------------------------------------------


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path: what must stay untouched."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
