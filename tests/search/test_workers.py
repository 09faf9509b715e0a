"""Many trials per GPU: `--workers N` with `--device cuda` or `auto` and several visible GPUs puts worker i on
`cuda:{i % count}`, decided in the spawned worker; with one GPU (or none, or a device named outright) they share it.
Tested on CPU with a fake device count.
"""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest
import torch
from conftest import make_config

import archgen.search.workers
from archgen.search import optimize
from archgen.search.workers import worker_device


@pytest.mark.parametrize(("device", "gpus", "expected"), [
    ("cuda", 4, ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1"]),  # six workers on four GPUs
    ("auto", 2, ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0", "cuda:1"]),
    ("cuda", 1, ["cuda"] * 6),  # one GPU: all share it
    ("auto", 0, ["auto"] * 6),  # no GPU: the trainer picks mps or cpu
    ("cuda:1", 4, ["cuda:1"] * 6),  # a device named outright is every worker's
    ("cpu", 4, ["cpu"] * 6),
])
def test_workers_spread_over_the_visible_gpus(device: str, gpus: int, expected: list[str]) -> None:
    assert [worker_device(device, index, gpus=gpus) for index in range(6)] == expected


def trained_devices(log: Path) -> list[str]:
    return [json.loads(line)["device"] for line in log.read_text().splitlines()]


@pytest.mark.parametrize(("device", "gpus", "expected"), [("cuda", 3, "cuda:2"), ("cuda", 1, "cuda"),
                                                           ("cpu", 3, "cpu")])
def test_a_spawned_worker_takes_its_gpu_from_the_device_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str, gpus: int, expected: str
) -> None:
    """The worker's own entry point, run here with torch reporting `gpus` GPUs: its trainer gets `expected`."""
    log = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(log))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    threads = torch.get_num_threads()
    try:
        archgen.search.workers._worker_main(make_config(tmp_path, trials=2, workers=3, device=device), 2,
                                            queue.Queue())
    finally:
        torch.set_num_threads(threads)  # the worker took its share of the cores
    assert trained_devices(log) == [expected, expected]


@pytest.mark.slow
def test_the_device_reaches_every_spawned_workers_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through spawn: two worker processes, --device cpu, and every trial trains on cpu."""
    log = tmp_path / "trained.jsonl"
    monkeypatch.setenv("ARCHGEN_FAKE_LOG", str(log))
    monkeypatch.setenv("ARCHGEN_FAKE_SLEEP", "0.05")
    assert optimize(make_config(tmp_path, trials=4, workers=2, device="cpu")).verdict == "done"
    assert trained_devices(log) == ["cpu"] * 4
