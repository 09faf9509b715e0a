"""He et al. 2016b's ablations in the plan: each placement of BN and ReLU (Fig. 4) and each shortcut (Fig. 2) lays
out the layers the paper describes, and every variant's analysis equals its built module, layer for layer.

Small nets of every block kind and shortcut option, so that shape-changing blocks (a strided, widened gate; option
A's padding before dropout) are covered; the shipped ResNet-110/164 rows go through test_plan_matches_module.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from test_plan_matches_module import observe, planned, predicted

from archgen import NetSpec, analyze, load_spec, parse_spec
from archgen.plan import BlockPlan, plan
from archgen.spec.schema import Placement

PLACEMENTS: list[Placement] = [
    "original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation"
]
# Table 1's shortcuts (Fig. 2), each as body fields.
SHORTCUTS: dict[str, dict[str, Any]] = {
    "identity": {},
    "constant scaling": {"shortcut_scale": 0.5},
    "frozen gating": {"shortcut_scale": 0.5, "branch_scale": 0.5},
    "exclusive gating": {"gate": "exclusive", "gate_bias": -6.0},
    "shortcut-only gating": {"gate": "shortcut_only"},
    "dropout": {"shortcut_dropout": 0.5},
}


def small(block: str = "basic", shortcut: str = "A", **body: Any) -> NetSpec:
    """Two stages of one block each: the second changes the shape (stride 2, twice the channels)."""
    return parse_spec({
        "name": "small", "input": {"size": 8, "classes": 3}, "stem": {"kind": "cifar", "width": 4},
        "body": {"block": block, "depths": [1, 2], "width": 4, "shortcut": shortcut, **body},
    })


def kinds(layers: tuple[Any, ...]) -> list[str]:
    return [layer.kind for layer in layers]


def first_blocks(spec: NetSpec) -> list[BlockPlan]:
    return [stage.blocks[0] for stage in plan(spec).stages]


# --- the placements: Fig. 4 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("placement", "before", "branch_end", "after", "kind"), [
    ("original", [], ["conv", "bn"], ["relu"], "post"),  # (a) relu(F(x) + x)
    ("bn_after_addition", [], ["relu", "conv"], ["bn", "relu"], "post"),  # (b) relu(bn(F(x) + x))
    ("relu_before_addition", [], ["conv", "bn", "relu"], [], "post"),  # (c) relu(F(x)) + x
    ("relu_only_preactivation", ["relu"], ["conv", "bn"], [], "pre"),  # (d) F(relu(x)) + x
    ("full_preactivation", ["bn", "relu"], ["relu", "conv"], [], "pre"),  # (e) F(relu(bn(x))) + x
])
def test_each_placement_moves_bn_and_relu_as_fig_4(
    placement: Placement, before: list[str], branch_end: list[str], after: list[str], kind: str
) -> None:
    block = plan(small(placement=placement)).stages[0].blocks[0]
    assert (kinds(block.before), kinds(block.branch)[-len(branch_end):], kinds(block.after)) == (
        before, branch_end, after
    )
    assert block.kind == kind and block.shortcut is not None and kinds(block.shortcut) == ["identity"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_all_placements_have_the_same_layers_in_another_order(placement: Placement) -> None:
    """"All these units consist of the same components -- only the orders are different" (Fig. 4), the stem's and
    head's share included: so every placement has the original's parameters and MACs."""
    network = plan(small(placement=placement))
    assert sorted(kinds(tuple(layer for _, layer in network.layers()))) == sorted(
        kinds(tuple(layer for _, layer in plan(small()).layers()))
    )
    assert (analyze(small(placement=placement)).params, analyze(small(placement=placement)).macs) == (
        analyze(small()).params, analyze(small()).macs
    )


@pytest.mark.parametrize(("placement", "stem_end", "head_start"), [
    ("original", ["conv", "bn", "relu"], ["global_avgpool"]),
    ("relu_only_preactivation", ["conv", "bn"], ["relu", "global_avgpool"]),
    ("full_preactivation", ["conv"], ["bn", "relu", "global_avgpool"]),
])
def test_pre_activation_moves_the_first_activation_into_the_first_block_and_adds_one_to_the_head(
    placement: Placement, stem_end: list[str], head_start: list[str]
) -> None:
    """He et al. 2016b, appendix: the first activation right after conv1, an extra one after the last addition."""
    network = plan(small(placement=placement))
    assert kinds(network.stem.layers) == stem_end
    assert kinds(network.head.layers)[: len(head_start)] == head_start


@pytest.mark.parametrize(("block", "shortcut"), [("basic", "A"), ("bottleneck", "B")])
def test_full_preactivation_is_the_preact_block(block: str, shortcut: str) -> None:
    """One network, two spellings: the placement on a basic/bottleneck block and the preact_* block kind."""
    assert plan(small(block, shortcut, placement="full_preactivation")) == plan(small(f"preact_{block}", shortcut))


def test_the_shipped_full_preactivation_resnet164_is_resnet164() -> None:
    assert plan(load_spec("resnet164-full-preactivation")) == plan(load_spec("resnet164"))
    assert plan(load_spec("resnet110-original")) == plan(load_spec("resnet110"))


def test_a_pre_activation_projection_reads_the_pre_activated_input_and_keeps_its_bn_only_with_relu_only() -> None:
    """"these projection shortcuts are also with pre-activation" (appendix); (d) keeps BN after every conv."""
    relu_only = first_blocks(small("bottleneck", "B", placement="relu_only_preactivation"))[0]
    full = first_blocks(small("bottleneck", "B", placement="full_preactivation"))[0]
    assert relu_only.shortcut_input == full.shortcut_input == "before"
    assert (kinds(relu_only.shortcut or ()), kinds(full.shortcut or ())) == (["conv", "bn"], ["conv"])


# --- the shortcuts: Fig. 2 -----------------------------------------------------------------------------------


def test_a_gate_reads_x_and_matches_f_where_the_block_changes_shape() -> None:
    """g(x) is a 1x1 conv on the block's input; in the block that halves the map and doubles the channels it is
    strided and widened as a projection is, so g(x) multiplies F(x) element by element."""
    kept, changed = first_blocks(small(gate="exclusive", gate_bias=-6.0))
    for block in (kept, changed):
        assert block.gate is not None and block.gating == "exclusive"
        assert (block.gate.kind, block.gate.kernel, block.gate.init_bias) == ("gate", 1, -6.0)
        assert block.gate.in_shape == block.branch[0].in_shape and block.gate.out_shape == block.out_shape
    assert (changed.gate.stride, changed.gate.in_shape, changed.gate.out_shape) == (2, (4, 8, 8), (8, 4, 4))


def test_the_gate_bias_defaults_to_zero_and_scales_to_one() -> None:
    block = first_blocks(small(gate="shortcut_only"))[0]
    assert block.gate is not None and block.gate.init_bias == 0.0
    assert (block.branch_scale, block.shortcut_scale) == (1.0, 1.0)
    scaled = first_blocks(small(shortcut_scale=0.5, branch_scale=0.5))[0]
    assert (scaled.gate, scaled.branch_scale, scaled.shortcut_scale) == (None, 0.5, 0.5)


@pytest.mark.parametrize(("shortcut", "names"), [
    ("A", [["shortcut"], ["shortcut.pad", "shortcut.dropout"]]),  # alone, the dropout is the whole shortcut
    ("C", [["shortcut.conv", "shortcut.bn", "shortcut.dropout"]] * 2),
])
def test_dropout_acts_on_the_shortcuts_output(shortcut: str, names: list[list[str]]) -> None:
    blocks = first_blocks(small(shortcut=shortcut, shortcut_dropout=0.5))
    assert [[layer.name for layer in block.shortcut or ()] for block in blocks] == names
    assert all((block.shortcut or ())[-1].kind == "shortcut_dropout" for block in blocks)
    assert all((block.shortcut or ())[-1].rate == 0.5 for block in blocks)


def test_a_plain_net_keeps_its_placement_and_has_no_shortcut() -> None:
    """"For a plain network ... it does not matter whether we think of them as post- or pre-activations" (Sec. 4.1)."""
    blocks = first_blocks(small(placement="relu_only_preactivation", residual=False))
    assert all(block.shortcut is None and block.gate is None and kinds(block.before) == ["relu"] for block in blocks)


def test_later_blocks_share_their_gate_as_their_other_layers() -> None:
    stage = plan(small(gate="exclusive")).stages[1]
    assert stage.blocks[1].repeats(stage.blocks[0]) is False and stage.blocks[1].gate is not None
    network = plan(load_spec("resnet110-exclusive-gating-b-6"))
    later = network.stages[2].blocks[1:]
    assert all(block.repeats(later[0]) and block.gate is later[0].gate for block in later)


# --- every variant: the analysis is the built module ---------------------------------------------------------

VARIANTS = [
    pytest.param(block, shortcut, placement, name, id=f"{block}-{shortcut}-{placement}-{name}")
    for (block, shortcut), placement, name in itertools.product(
        [("basic", "A"), ("bottleneck", "B"), ("basic", "C")], PLACEMENTS, SHORTCUTS
    )
]


@pytest.mark.parametrize(("block", "shortcut", "placement", "name"), VARIANTS)
def test_every_variant_plan_is_its_module_and_analysis_counts_it(
    block: str, shortcut: str, placement: Placement, name: str
) -> None:
    """Layers one to one (path, kind, shapes, kernel, stride, dropout rate, a gate's initial bias); per part params =
    numel(), MACs = FlopCounterMode / 2, acts = outputs of convs (gates too), pools and the classifier."""
    spec = small(block, shortcut, placement=placement, **SHORTCUTS[name])
    seen = observe(spec, "meta")
    assert planned(spec) == seen.layers
    assert predicted(analyze(spec)) == seen.parts


def test_control_the_oracle_sees_a_gate_bias_and_a_placement() -> None:
    """Control: a plan differs from the module of a spec that differs only in b_g, or only in the placement."""
    spec = small(gate="exclusive", gate_bias=-6.0)
    assert planned(spec) != observe(small(gate="exclusive", gate_bias=-7.0), "meta").layers
    assert planned(small(placement="relu_before_addition")) != observe(small(), "meta").layers


@pytest.mark.parametrize(("name", "extra_params"), [
    ("exclusive gating", (4 * 4 + 4) + (4 * 8 + 8) + (8 * 8 + 8)),  # W_g and b_g in each of the three blocks
    ("dropout", 0), ("constant scaling", 0),
])
def test_what_each_shortcut_adds(name: str, extra_params: int) -> None:
    assert analyze(small(**SHORTCUTS[name])).params - analyze(small()).params == extra_params
