"""The analysis equals the built module for every shipped spec (STYLE.md 6, issue 2).

Parameters = the module's `numel()` sum; MACs = FlopCounterMode's conv/linear FLOPs / 2 at batch 1;
output shapes = what each part really returns. Per part: stem, every stage, every block, head.
The modules are built on the meta device (shapes only), which counts exactly as real tensors do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from archgen import NetSpec, analyze, build_model, load_spec
from archgen.analysis import Complexity
from archgen.compile import Network
from archgen.spec.library import shipped_specs

# The deepest nets take a few seconds even on meta tensors (600+ blocks of Python); still run in CI.
SLOW = {"resnet1202", "resnet1001"}
SPECS = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in sorted(shipped_specs())]


@dataclass(frozen=True)
class Part:
    params: int
    macs: int
    out_shape: tuple[int, ...]


def parts_of(model: Network) -> dict[str, nn.Module]:
    """The module under each path the analysis names: stem, stages.i, stages.i.j, head."""
    parts: dict[str, nn.Module] = {"stem": model.stem, "head": model.head}
    for i, stage in enumerate(model.stages):
        parts[f"stages.{i}"] = stage
        parts.update({f"stages.{i}.{j}": block for j, block in enumerate(stage)})
    return parts


def measure(spec: NetSpec, device: str) -> dict[str, Part]:
    """Params, FlopCounterMode MACs and output shape of every part of the built network, at batch 1."""
    with torch.device(device):
        model = build_model(spec)
        x = torch.randn(1, spec.input.channels, spec.input.size, spec.input.size)
    assert isinstance(model, Network)
    parts, shapes = parts_of(model), {}

    def record(path: str) -> Callable[..., None]:
        return lambda module, inputs, out: shapes.__setitem__(path, tuple(out.shape[1:]))

    hooks = [module.register_forward_hook(record(path)) for path, module in parts.items()]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        logits: Tensor = model(x)
    for hook in hooks:
        hook.remove()
    counts = counter.get_flop_counts()
    measured = {
        path: Part(
            params=sum(p.numel() for p in module.parameters()),
            macs=sum(counts.get(f"Network.{path}", {}).values()) // 2,
            out_shape=shapes[path],
        )
        for path, module in parts.items()
    }
    params = sum(p.numel() for p in model.parameters())
    measured["total"] = Part(params, counter.get_total_flops() // 2, tuple(logits.shape[1:]))
    return measured


def predicted(complexity: Complexity) -> dict[str, Part]:
    """The same facts from the analysis, keyed by the same paths."""
    parts = {
        "stem": Part(complexity.stem.params, complexity.stem.macs, complexity.stem.out_shape),
        "head": Part(complexity.head.params, complexity.head.macs, complexity.head.out_shape[:1]),
        "total": Part(complexity.params, complexity.macs, complexity.head.out_shape[:1]),
    }
    for stage in complexity.stages:
        parts[f"stages.{stage.index}"] = Part(stage.params, stage.macs, stage.out_shape)
        parts.update({block.path: Part(block.params, block.macs, block.out_shape) for block in stage.blocks})
    return parts


@pytest.mark.parametrize("name", SPECS)
def test_analysis_equals_the_built_module(name: str) -> None:
    spec = load_spec(name)
    expected, actual = predicted(analyze(spec)), measure(spec, "meta")
    assert actual.keys() == expected.keys()
    wrong = {path: (expected[path], actual[path]) for path in expected if expected[path] != actual[path]}
    first = min(wrong, default="")
    assert not wrong, f"{name}: analysis != module at {sorted(wrong)[:5]}; {first}: {wrong.get(first)}"


@pytest.mark.parametrize("name", ["resnet20", "resnet164", "resnet50c"])
def test_meta_tensors_count_exactly_as_real_ones(name: str) -> None:
    """Why measuring on the meta device is a proof: basic/option A, pre-activation bottleneck, deep stem."""
    spec = load_spec(name)
    assert measure(spec, "meta") == measure(spec, "cpu")


def test_flops_are_twice_the_macs() -> None:
    complexity = analyze(load_spec("resnet18"))
    assert complexity.flops == 2 * complexity.macs == 2 * 1_814_073_344
