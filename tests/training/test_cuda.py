"""On a CUDA GPU, an epoch of archgen's steps never makes the host wait for the device: the epoch's order, crops
and flips are uploaded asynchronously, losses and errors are summed on the device, and (by default) each step is
one CUDA graph replay. `torch.cuda.set_sync_debug_mode("error")` turns any synchronising call into an error.

Skipped without a GPU: run on a lent one (`pytest tests/training/test_cuda.py`)."""

from __future__ import annotations

import pytest
import torch

import archgen
from archgen.data import load_data, make_loaders
from archgen.spec.schema import Train
from archgen.training import EpochTotals, Meter, build_engine, train_epoch
from archgen.training.captured import CapturedStep
from archgen.training.steps import EagerStep, Step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run it on the lent one)")


def _engine(*, graphs: bool) -> tuple[Step, object]:
    data = load_data("synthetic:3x32x32,classes=10,train=2048,val=128", size=32)
    loader = make_loaders(data, batch_size=128, augment=True, seed=0, device="cuda").train
    torch.manual_seed(0)
    engine = build_engine(archgen.build_model(archgen.load_spec("resnet20")), Train(batch_size=128), device="cuda",
                          steps_per_epoch=len(loader), fused=graphs)
    if graphs:
        return CapturedStep(engine, loader.materialize, loader.batch_size, capture=True), loader
    return EagerStep(engine), loader


@pytest.mark.parametrize("graphs", [True, False], ids=["cuda-graphs", "eager"])
def test_an_epoch_never_waits_for_the_device(graphs: bool) -> None:
    step, loader = _engine(graphs=graphs)
    meter = Meter(step.engine.device)
    meter.begin(0, EpochTotals(), step=0)
    for _ in train_epoch(step, loader, epoch=0, meter=meter):  # type: ignore[arg-type]  # warm-up, capture
        pass
    meter.read(len(loader))  # type: ignore[arg-type]
    meter.begin(1, EpochTotals(), step=0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in train_epoch(step, loader, epoch=1, meter=meter):  # type: ignore[arg-type]
            pass
    finally:
        torch.cuda.set_sync_debug_mode("default")
    totals = meter.read(len(loader))  # type: ignore[arg-type]
    assert totals.seen == 2048 and 0 < totals.loss < 10


def test_control_a_read_inside_the_epoch_is_caught() -> None:
    """The check can fail: reading the loss back inside the epoch is an error under the debug mode."""
    step, loader = _engine(graphs=False)
    meter = Meter(step.engine.device)
    meter.begin(0, EpochTotals(), step=0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pytest.raises(RuntimeError, match="synchroniz"):
            for done in train_epoch(step, loader, epoch=0, meter=meter):  # type: ignore[arg-type]
                meter.read(done)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_cuda_graphs_learn_as_the_eager_steps_do() -> None:
    """Not bitwise on a GPU, but close: the captured step trains the same net to about the same loss."""
    losses = []
    for graphs in (False, True):
        step, loader = _engine(graphs=graphs)
        meter = Meter(step.engine.device)
        for epoch in range(3):
            meter.begin(epoch, EpochTotals(), step=0)
            for _ in train_epoch(step, loader, epoch=epoch, meter=meter):  # type: ignore[arg-type]
                pass
            losses.append(meter.read(len(loader)).loss)  # type: ignore[arg-type]
    eager, graphed = losses[:3], losses[3:]
    assert graphed[-1] < graphed[0] and abs(graphed[-1] - eager[-1]) < 0.15 * eager[-1]
