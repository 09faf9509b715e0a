"""Every shipped spec can be used: it builds, exports (its outputs finite, so the check against torch means
something) and trains one step. ResNet-1001 and -1202 once could not be exported: freshly initialised, their
eval-mode outputs overflowed to NaN through hundreds of residual additions, and the message blamed the export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archgen
from archgen.cli import main
from archgen.compile.network import estimate_norm_statistics
from archgen.spec.library import shipped_specs

NETWORKS = [name for name in shipped_specs() if archgen.load_spec(name).search is None]
DEEP = ["resnet1001", "resnet1202"]


def _fresh(name: str) -> tuple[torch.nn.Module, tuple[int, int, int, int]]:
    spec = archgen.load_spec(name)
    torch.manual_seed(0)
    return archgen.build_model(spec), (2, spec.input.channels, spec.input.size, spec.input.size)


@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_is_finite_in_eval_mode_with_estimated_statistics(name: str) -> None:
    model, shape = _fresh(name)
    estimate_norm_statistics(model, shape, batches=2)
    with torch.no_grad():
        outputs = model.eval()(torch.randn(shape))
    assert torch.isfinite(outputs).all()


@pytest.mark.parametrize("name", DEEP)
def test_control_without_estimated_statistics_the_deepest_overflow(name: str) -> None:
    model, shape = _fresh(name)
    with torch.no_grad():
        outputs = model.eval()(torch.randn(shape))
    assert not torch.isfinite(outputs).all()


def test_estimating_statistics_touches_no_weight_and_restores_the_mode() -> None:
    model, shape = _fresh("resnet20")
    weights = {name: p.clone() for name, p in model.named_parameters()}
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    model.eval()
    estimate_norm_statistics(model, shape)
    assert not model.training and momenta == [m.momentum for m in norms]
    assert all(torch.equal(p, weights[name]) for name, p in model.named_parameters())
    assert any(m.running_var.ne(1).any() for m in norms)


@pytest.mark.slow
@pytest.mark.parametrize("name", NETWORKS)
def test_every_network_trains_one_step(name: str) -> None:
    model, shape = _fresh(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    labels = torch.randint(archgen.load_spec(name).input.classes, (shape[0],))
    loss = torch.nn.functional.cross_entropy(model.train()(torch.randn(shape)), labels)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("name", DEEP)
def test_the_deepest_shipped_networks_export(name: str, tmp_path: Path) -> None:
    """Through the CLI, as the review did: a checked TorchScript file (the quickest format, ~2 min each here)."""
    out = tmp_path / f"{name}.pt"
    with pytest.raises(SystemExit) as exit:
        main(["build", name, "--export", "torchscript", "--out", str(out)])
    assert exit.value.code in (0, None)
    assert out.is_file()
