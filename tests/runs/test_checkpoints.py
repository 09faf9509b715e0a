"""Checkpoints on disk: round trip, the newest two kept, damaged ones skipped for the previous good one, and a
planted pickle refused without running, whatever TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD says."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch

from archgen.errors import RunError
from archgen.runs import load_latest, save_checkpoint
from archgen.runs.checkpoints import MANIFEST, STATE, WEIGHTS
from archgen.train import EpochMetrics, EpochTotals, TrainState
from archgen.train.state import rng_state


def state(updates: int) -> TrainState:
    metrics = EpochMetrics(1, 0.5, 0.1, 0.6, 0.2, 0.1, 100.0, 1.0)
    return TrainState(
        epoch=updates // 10, step=updates % 10, updates=updates,
        weights={"layer.weight": torch.full((3, 2), float(updates)), "bn.num_batches_tracked": torch.tensor(updates)},
        optimizer={"state": {0: {"momentum_buffer": torch.ones(3)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        scheduler={"decay_t": [5], "base_values": [0.1]}, rng=rng_state(),
        totals=EpochTotals(1.5, 2.0, 3.0, 0.25), history=(metrics,),
    )


def test_round_trip(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, state(12))
    loaded = load_latest(tmp_path)
    assert loaded.state is not None and loaded.skipped == () and loaded.path == tmp_path / "step-000000012"
    assert torch.equal(loaded.state.weights["layer.weight"], state(12).weights["layer.weight"])
    assert loaded.state.rest()["optimizer"]["param_groups"] == state(12).optimizer["param_groups"]
    assert (loaded.state.totals, loaded.state.history) == (state(12).totals, state(12).history)
    assert torch.equal(loaded.state.rng["torch"], state(12).rng["torch"])


def test_keeps_the_newest_two(tmp_path: Path) -> None:
    for updates in (3, 7, 11, 15):
        save_checkpoint(tmp_path, state(updates))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["step-000000011", "step-000000015"]


def test_no_checkpoint_yet(tmp_path: Path) -> None:
    assert load_latest(tmp_path / "none").state is None


@pytest.mark.parametrize(("damage", "why"), [
    (lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]), "does not match its sha256"),
    (lambda path: path.write_bytes(_flip_bit(path.read_bytes())), "does not match its sha256"),
    (lambda path: path.unlink(), "unreadable"),
])
@pytest.mark.parametrize("name", [WEIGHTS, STATE, MANIFEST])
def test_damaged_newest_falls_back_to_the_previous(tmp_path: Path, damage, why: str, name: str) -> None:  # type: ignore[no-untyped-def]
    save_checkpoint(tmp_path, state(5))
    newest = save_checkpoint(tmp_path, state(9))
    damage(newest / name)
    loaded = load_latest(tmp_path)
    assert loaded.state is not None and loaded.state.updates == 5
    assert len(loaded.skipped) == 1 and "step-000000009" in loaded.skipped[0]
    if name != MANIFEST:
        assert why in loaded.skipped[0]


def _flip_bit(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]


class _Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("as_zip", [False, True])
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_pickle_is_refused_even_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_zip: bool
) -> None:
    """The attacker replaces state.pt and fixes the manifest's sha256 too: weights_only=True still refuses."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    previous = save_checkpoint(folder, state(4))
    newest = save_checkpoint(folder, state(8))
    if as_zip:
        with open(newest / STATE, "wb") as file:
            torch.save({"epoch": _Planted(marker)}, file)
    else:
        (newest / STATE).write_bytes(pickle.dumps({"epoch": _Planted(marker)}))
    manifest = json.loads((newest / MANIFEST).read_text())
    manifest["sha256"][STATE] = hashlib.sha256((newest / STATE).read_bytes()).hexdigest()
    (newest / MANIFEST).write_text(json.dumps(manifest))

    loaded = load_latest(folder)
    assert not marker.exists()
    assert loaded.path == previous and "not a plain checkpoint state, refused" in loaded.skipped[0]

    (previous / STATE).write_bytes((newest / STATE).read_bytes())  # both planted: nothing loads, nothing runs
    assert load_latest(folder).state is None and not marker.exists()


def test_read_only_folder_names_path_and_errno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    expected = r"cannot write checkpoint .*step-000000003: Permission denied \(errno 13, EACCES\)"
    with pytest.raises(RunError, match=expected):
        save_checkpoint(tmp_path, state(3))
