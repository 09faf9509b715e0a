"""The plan's own facts, torch-free: paths, shared layers of repeated blocks, shortcuts, reductions."""

from __future__ import annotations

import pytest

from archgen import load_spec
from archgen.plan import plan


def test_block_paths_mirror_the_spec() -> None:
    network = plan(load_spec("resnet50"))
    assert [[block.path for block in stage.blocks] for stage in network.stages] == [
        [f"stages.{i}.{j}" for j in range(depth)] for i, depth in enumerate((3, 4, 6, 3))
    ]
    assert [stage.path for stage in network.stages] == ["stages.0", "stages.1", "stages.2", "stages.3"]


def test_later_blocks_of_a_stage_are_one_block_repeated() -> None:
    """ResNet-1202's 600 blocks are a handful of distinct ones: the plan shares their Layer objects."""
    network = plan(load_spec("resnet1202"))
    for stage in network.stages:
        first, second, *rest = stage.blocks
        assert all(block.repeats(second) and block.layers == second.layers for block in rest)
        assert first.repeats(second) == (stage.stride == 1)  # stage 0 keeps its shape: even the first repeats
    assert len({id(layer) for _, layer in network.layers()}) < 100


@pytest.mark.parametrize(("name", "shortcuts"), [
    ("resnet20", ["identity", "pad", "pad"]),  # option A
    ("resnet18", ["identity", "conv", "conv", "conv"]),  # option B: a projection where the shape changes
    ("plain20", [None, None, None]),
])
def test_shortcuts_of_each_stage(name: str, shortcuts: list[str | None]) -> None:
    kinds = [(block.shortcut or [None])[0] for block in (stage.blocks[0] for stage in plan(load_spec(name)).stages)]
    assert [kind if kind is None else kind.kind for kind in kinds] == shortcuts


def test_a_pre_activation_projection_reads_the_normalised_input() -> None:
    """He et al. 2016b's code: the projection takes bn-relu(x) and has no BN; an identity takes x."""
    first, second = plan(load_spec("resnet164")).stages[0].blocks[:2]
    assert [layer.name for layer in first.shortcut or ()] == ["shortcut.conv"]
    assert (first.shortcut_input, second.shortcut_input) == ("before", "input")
    assert [layer.name for layer in first.before] == ["bn", "relu"] and first.after == ()


@pytest.mark.parametrize(("name", "reductions"), [
    ("resnet20", (1, 2, 4)), ("resnet18", (4, 8, 16, 32)), ("resnet50c", (4, 8, 16, 32)),
])
def test_reductions_are_products_of_strides(name: str, reductions: tuple[int, ...]) -> None:
    assert plan(load_spec(name)).reductions == reductions
