"""One spelling per device: every way of naming the CPU (or a GPU) that a user or torchrun may give reaches the
loaders and the engine as the device tensors report, so no comparison of devices depends on how it was written.
The GPU crash this guards against: `device="cuda"` against data on `cuda:0` tried to pin a CUDA tensor."""

from __future__ import annotations

import pytest
import torch

from archgen.data import load_data, make_loaders
from archgen.devices import DeviceError, canonical, select_device
from archgen.spec.schema import Train
from archgen.training import build_engine

SPELLINGS = ["cpu", "cpu:0", torch.device("cpu"), torch.device("cpu", 0)]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
def test_every_spelling_of_the_cpu_is_the_devices_own(spelling: object) -> None:
    assert canonical(spelling) == torch.zeros(1).device  # type: ignore[arg-type]


def test_control_spellings_differ_without_it() -> None:
    assert torch.device("cpu", 0) != torch.zeros(1).device  # what a raw comparison would have got wrong


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
def test_loaders_keep_data_where_the_device_is_however_it_is_spelled(spelling: object) -> None:
    data = load_data("synthetic:3x8x8,classes=2,train=16,val=4", size=8)
    reference = make_loaders(data, batch_size=8, augment=True, seed=0, device="cpu").train
    loader = make_loaders(data, batch_size=8, augment=True, seed=0, device=spelling).train  # type: ignore[arg-type]
    assert loader.resident and loader.device == torch.device("cpu")
    for (images, labels), (expected, expected_labels) in zip(loader.batches(1), reference.batches(1), strict=True):
        assert torch.equal(images, expected) and torch.equal(labels, expected_labels)


@pytest.mark.parametrize("spelling", SPELLINGS, ids=str)
def test_the_engine_names_its_device_as_tensors_do(spelling: object) -> None:
    engine = build_engine(torch.nn.Linear(2, 2), Train(), device=spelling, steps_per_epoch=1)  # type: ignore[arg-type]
    assert engine.device == next(engine.module.parameters()).device


def test_cuda_indices_are_filled_in() -> None:
    assert canonical(0) == canonical("cuda") == canonical(torch.device("cuda")) == torch.device("cuda", 0)


@pytest.mark.parametrize(("name", "message"), [
    ("cuda", "no CUDA GPU is available on this machine"),
    ("cuda:0", "no CUDA GPU is available on this machine"),
    ("gpu", "--device must be one of auto, cpu, cuda, mps or cuda:N, got 'gpu'"),
])
def test_devices_that_are_not_here_are_one_line(name: str, message: str) -> None:
    if torch.cuda.is_available() and name.startswith("cuda"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match=message):
        select_device(name)


def test_the_search_latency_objective_reads_the_device_as_the_trainer_does() -> None:
    """`--device auto` and `cpu` time the network on the CPU here; a GPU that is not here is the trainer's one line,
    not torch's error from inside a trial."""
    from archgen import load_spec
    from archgen.search.trial import latency_objective

    spec = load_spec("digits-resnet20")
    assert latency_objective(spec, device="auto") > 0 and latency_objective(spec, device="cpu") > 0
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA"):
            latency_objective(spec, device="cuda")
