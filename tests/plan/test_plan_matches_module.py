"""The plan is the network: its layers are the built module's, one to one, and the analysis's counts over them
equal the module's, for every shipped spec (STYLE.md 6; the redesign issue, part 2).

Layers: module path, kind, shapes in and out (forward hooks), kernel, stride, groups, dropout rate, a gate's initial
bias, in the order the module registers them. Per part (stem, every stage, every block, head): parameters = the
module's `numel()` sum; MACs = FlopCounterMode's conv/linear FLOPs / 2 at batch 1; acts = output elements of every
conv (a gate's too), max-pool and linear layer (forward hooks); output shapes = what each part really returns. The
modules are built on the meta device (shapes only), which counts exactly as real tensors do.
tests/fuzz/test_fuzz_valid.py runs `measure` and `predicted` on random specs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import pytest
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from archgen import NetSpec, analyze, build_model, load_spec, parse_spec
from archgen.analysis import Complexity
from archgen.compile import Network
from archgen.compile.layers import Gate, PadShortcut, ShortcutDropout
from archgen.plan import LayerKind, plan
from archgen.spec.library import shipped_specs

# The deepest nets take a few seconds even on meta tensors (600+ blocks of Python); still run in CI.
SLOW = {"resnet1202", "resnet1001"}
SPECS = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in sorted(shipped_specs())]

# The layer kind each leaf module is (the plan's names), and the kinds whose outputs are counted as acts.
KINDS: dict[type[nn.Module], str] = {
    nn.Conv2d: "conv", nn.BatchNorm2d: "bn", nn.ReLU: "relu", nn.MaxPool2d: "maxpool",
    nn.AdaptiveAvgPool2d: "global_avgpool", nn.AdaptiveMaxPool2d: "global_maxpool", nn.Flatten: "flatten",
    nn.Dropout: "dropout", nn.Linear: "fc", nn.Identity: "identity", PadShortcut: "pad", Gate: "gate",
    ShortcutDropout: "shortcut_dropout",
}
ACTS = {"conv", "maxpool", "fc", "gate"}


@dataclass(frozen=True)
class Part:
    params: int
    macs: int
    acts: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class Seen:
    """One layer, as the plan describes it or as the built module has it."""

    path: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int
    stride: int
    groups: int
    rate: float
    init_bias: float


@dataclass(frozen=True)
class Observed:
    parts: dict[str, Part]
    layers: list[Seen]


def parts_of(model: Network) -> dict[str, nn.Module]:
    """The module under each path the analysis names: stem, stages.i, stages.i.j, head."""
    parts: dict[str, nn.Module] = {"stem": model.stem, "head": model.head}
    for i, stage in enumerate(model.stages):
        parts[f"stages.{i}"] = stage
        parts.update({f"stages.{i}.{j}": block for j, block in enumerate(stage)})
    return parts


def _square(value: int | tuple[int, ...]) -> int:
    """torch keeps kernels and strides as pairs; archgen's are square."""
    if isinstance(value, tuple):
        assert len(set(value)) == 1, value
        return value[0]
    return value


def _chw(shape: torch.Size) -> tuple[int, ...]:
    return (*shape[1:], 1, 1, 1)[:3]  # (N, C) after flatten is a (C, 1, 1) map, as the plan writes it


def seen(path: str, module: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> Seen:
    return Seen(
        path, KINDS[type(module)], _chw(inputs[0].shape), _chw(out.shape), _square(getattr(module, "kernel_size", 1)),
        _square(getattr(module, "stride", 1)), getattr(module, "groups", 1),
        getattr(module, "p", getattr(module, "rate", 0.0)), getattr(module, "initial_bias", 0.0),
    )


def observe(spec: NetSpec, device: str) -> Observed:
    """Every leaf layer and every part of the built network, measured in one forward at batch 1."""
    with torch.device(device):
        model = build_model(spec)
        x = torch.randn(1, spec.input.channels, spec.input.size, spec.input.size)
    assert isinstance(model, Network)
    parts, shapes, layers = parts_of(model), {}, {}
    leaves = {path: module for path, module in model.named_modules() if next(module.children(), None) is None}

    def part(path: str) -> Callable[..., None]:
        return lambda module, inputs, out: shapes.__setitem__(path, tuple(out.shape[1:]))

    def layer(path: str) -> Callable[..., None]:
        return lambda module, inputs, out: layers.__setitem__(path, seen(path, module, inputs, out))

    hooks = [module.register_forward_hook(part(path)) for path, module in parts.items()]
    hooks += [module.register_forward_hook(layer(path)) for path, module in leaves.items()]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        logits: Tensor = model(x)
    for hook in hooks:
        hook.remove()
    counts = counter.get_flop_counts()

    def acts(prefix: str) -> int:
        return sum(math.prod(layer.out_shape) for path, layer in layers.items()
                   if layer.kind in ACTS and path.startswith(prefix))

    measured = {
        path: Part(
            params=sum(p.numel() for p in module.parameters()),
            macs=sum(counts.get(f"Network.{path}", {}).values()) // 2,
            acts=acts(f"{path}."),
            out_shape=shapes[path],
        )
        for path, module in parts.items()
    }
    params = sum(p.numel() for p in model.parameters())
    measured["total"] = Part(params, counter.get_total_flops() // 2, acts(""), tuple(logits.shape[1:]))
    return Observed(measured, [layers[path] for path in leaves])  # in the order the module registers them


def measure(spec: NetSpec, device: str) -> dict[str, Part]:
    """Params, FlopCounterMode MACs, acts and output shape of every part of the built network, at batch 1."""
    return observe(spec, device).parts


def predicted(complexity: Complexity) -> dict[str, Part]:
    """The same facts from the analysis, keyed by the same paths."""
    parts = {
        "stem": Part(complexity.stem.params, complexity.stem.macs, complexity.stem.acts, complexity.stem.out_shape),
        "head": Part(complexity.head.params, complexity.head.macs, complexity.head.acts,
                     complexity.head.out_shape[:1]),
        "total": Part(complexity.params, complexity.macs, complexity.acts, complexity.head.out_shape[:1]),
    }
    for stage in complexity.stages:
        parts[f"stages.{stage.index}"] = Part(stage.params, stage.macs, stage.acts, stage.out_shape)
        parts.update({block.path: Part(block.params, block.macs, block.acts, block.out_shape)
                      for block in stage.blocks})
    return parts


def planned(spec: NetSpec) -> list[Seen]:
    """The plan's layers, described as `seen` describes a module's."""
    return [
        Seen(path, layer.kind, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.rate,
             layer.init_bias)
        for path, layer in plan(spec).layers()
    ]


@functools.cache
def observed(name: str) -> Observed:
    """A shipped spec's module, observed once for both tests below."""
    return observe(load_spec(name), "meta")


@pytest.mark.parametrize("name", SPECS)
def test_plan_layers_are_the_modules_layers(name: str) -> None:
    expected, actual = planned(load_spec(name)), observed(name).layers
    first = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), None)
    assert first is None, f"{name}: layer {first}: plan {expected[first]} != module {actual[first]}"
    assert len(expected) == len(actual)


@pytest.mark.parametrize("name", SPECS)
def test_analysis_equals_the_built_module(name: str) -> None:
    spec = load_spec(name)
    expected, actual = predicted(analyze(spec)), observed(name).parts
    assert actual.keys() == expected.keys()
    wrong = {path: (expected[path], actual[path]) for path in expected if expected[path] != actual[path]}
    first = min(wrong, default="")
    assert not wrong, f"{name}: analysis != module at {sorted(wrong)[:5]}; {first}: {wrong.get(first)}"


@pytest.mark.parametrize("name", ["resnet20", "resnet164", "resnet50c"])
def test_meta_tensors_count_exactly_as_real_ones(name: str) -> None:
    """Why measuring on the meta device is a proof: basic/option A, pre-activation bottleneck, deep stem."""
    spec = load_spec(name)
    assert observe(spec, "meta") == observe(spec, "cpu")


def test_flops_are_twice_the_macs() -> None:
    complexity = analyze(load_spec("resnet18"))
    assert complexity.flops == 2 * complexity.macs == 2 * 1_814_073_344


def test_every_layer_kind_is_known_here() -> None:
    """Control: a kind the plan names but this oracle does not would fail every comparison above with a KeyError."""
    assert sorted(KINDS.values()) == sorted(get_args(LayerKind))


def test_the_oracle_sees_a_wrong_plan() -> None:
    """Control: the plan of a spec differs from the module of another (a projection where the identity was)."""
    a = parse_spec({"name": "a", "input": {"size": 8, "classes": 2}, "stem": {"kind": "cifar", "width": 4},
                    "body": {"block": "basic", "depths": [1], "width": 4}, "head": {"dropout": 0.5}})
    b = a.model_copy(update={"body": a.body.model_copy(update={"shortcut": "C"})})
    assert planned(a) != observe(b, "meta").layers
    c = a.model_copy(update={"head": a.head.model_copy(update={"dropout": 0.25})})
    assert planned(a) != observe(c, "meta").layers  # the dropout rate is compared too
