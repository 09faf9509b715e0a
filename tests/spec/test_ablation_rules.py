"""He et al. 2016b's ablation fields: their bounds, and the rules that refuse what the language makes contradictory,
each one located line naming the field, the rule and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from archgen.errors import SpecError
from archgen.spec import Body, parse_spec, read_spec
from archgen.spec.families import plain_counterpart
from archgen.spec.schema import SHORTCUT_VARIANT_FIELDS


def _spec(block: str = "basic", **body: Any) -> dict[str, Any]:
    return {
        "name": "net", "input": {"size": 32, "classes": 10}, "stem": {"kind": "cifar", "width": 16},
        "body": {"block": block, "depths": [1, 1, 1], "width": 16, **body},
    }


def _messages(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return [f"{problem.field}: {problem.message}" for problem in caught.value.problems]


@pytest.mark.parametrize("body", [
    {"placement": placement} for placement in
    ("original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation")
] + [
    {"shortcut_scale": 0.5}, {"shortcut_scale": 0.5, "branch_scale": 0.5}, {"gate": "exclusive", "gate_bias": -6.0},
    {"gate": "shortcut_only"}, {"shortcut_dropout": 0.5}, {"shortcut": "C", "shortcut_dropout": 0.0},
    {"placement": "full_preactivation", "gate": "exclusive", "shortcut_dropout": 0.3},
    {"placement": "relu_only_preactivation", "residual": False},  # a plain net has its activations somewhere too
    {"zero_init_residual": True, "placement": "relu_before_addition", "branch_scale": 0.5},
])
def test_the_papers_variants_and_their_combinations_validate(body: dict[str, Any]) -> None:
    assert parse_spec(_spec(**body)).body == Body(**{"block": "basic", "depths": (1, 1, 1), "width": 16, **body})


def test_defaults_are_the_original_unit() -> None:
    body = parse_spec(_spec()).body
    assert (body.placement, body.shortcut_scale, body.branch_scale, body.gate, body.gate_bias) == (
        None, 1.0, 1.0, "none", None
    )
    assert (body.shortcut_dropout, body.resolved_placement, body.resolved_gate_bias) == (0.0, "original", 0.0)
    assert parse_spec(_spec("preact_basic")).body.resolved_placement == "full_preactivation"


@pytest.mark.parametrize(("body", "message"), [
    ({"shortcut_dropout": 1.0}, "body.shortcut_dropout: must be less than 1, got 1.0"),
    ({"shortcut_dropout": -0.1}, "body.shortcut_dropout: must be greater than or equal to 0, got -0.1"),
    ({"shortcut_scale": -0.5}, "body.shortcut_scale: must be greater than or equal to 0, got -0.5"),
    ({"branch_scale": 0.0}, "body.branch_scale: must be greater than 0, got 0.0"),
    ({"gate_bias": -101.0, "gate": "exclusive"}, "body.gate_bias: must be greater than or equal to -100, got -101.0"),
])
def test_bounds(body: dict[str, Any], message: str) -> None:
    assert _messages(_spec(**body)) == [message]


def test_a_misspelt_gate_or_placement_lists_the_choices() -> None:
    assert _messages(_spec(gate="exlusive", placement="bn_after_add")) == [
        "body.placement: string 'bn_after_add' is not allowed; did you mean 'bn_after_addition'? (choose from "
        "'original', 'bn_after_addition', 'relu_before_addition', 'relu_only_preactivation', 'full_preactivation')",
        "body.gate: string 'exlusive' is not allowed; did you mean 'exclusive'? (choose from 'none', 'exclusive', "
        "'shortcut_only')",
    ]


@pytest.mark.parametrize("block", ["preact_basic", "preact_bottleneck"])
@pytest.mark.parametrize("placement", ["relu_only_preactivation", "full_preactivation", "original"])
def test_a_placement_on_a_pre_activation_block_is_refused(block: str, placement: str) -> None:
    assert _messages(_spec(block, placement=placement, shortcut="B")) == [
        f"body.placement: block = {block!r} is already the full pre-activation unit (He et al. 2016b, Fig. 4e); "
        f"placement rearranges a basic or bottleneck block, so write block = {block.removeprefix('preact_')!r}"
    ]


def test_a_gate_bias_without_a_gate() -> None:
    assert _messages(_spec(gate_bias=-6.0)) == [
        "body.gate_bias: is the initial bias of a gate, but gate = 'none' (choose 'exclusive' or 'shortcut_only')"
    ]


def test_a_shortcut_scaled_by_zero_is_the_plain_net() -> None:
    assert _messages(_spec(shortcut_scale=0.0)) == [
        "body.shortcut_scale: 0 leaves no shortcut, the plain net of He et al. 2016b's Table 1: write residual = false"
    ]


@pytest.mark.parametrize("field", ["shortcut_scale", "branch_scale"])
def test_a_gate_and_a_constant_scale_exclude_each_other(field: str) -> None:
    assert _messages(_spec(gate="shortcut_only", **{field: 0.5})) == [
        f"body.{field}: gate = 'shortcut_only' already scales by g(x), and constant scaling is a frozen gate "
        "(He et al. 2016b, Sec. 3.1): use one or the other"
    ]


@pytest.mark.parametrize(("field", "value"), [
    ("shortcut_scale", 0.5), ("branch_scale", 0.5), ("gate", "exclusive"), ("gate_bias", -6.0),
    ("shortcut_dropout", 0.5),
])
def test_a_plain_net_has_no_shortcut_to_vary(field: str, value: object) -> None:
    assert _messages(_spec(residual=False, **{field: value})) == [
        f"body.{field}: acts on the shortcut, but residual = false: a plain net has none"
    ]


@pytest.mark.parametrize(("body", "output"), [
    ({"shortcut_scale": 0.5}, "0.5 x (shortcut_scale = 0.5)"),
    ({"gate": "exclusive"}, "(1 - g(x)) x (gate = 'exclusive')"),
    ({"gate": "shortcut_only"}, "(1 - g(x)) x (gate = 'shortcut_only')"),
    ({"shortcut_dropout": 0.5}, "x with elements dropped (shortcut_dropout = 0.5)"),
    ({"placement": "bn_after_addition"}, "relu(bn(x)) (placement = 'bn_after_addition')"),
])
def test_zero_init_is_refused_where_a_zero_f_leaves_no_identity(body: dict[str, Any], output: str) -> None:
    assert _messages(_spec(zero_init_residual=True, **body)) == [
        f"body.zero_init_residual: cannot start each block as the identity: with F at zero a block outputs {output}"
    ]


def test_every_problem_is_one_located_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('extends = "resnet164"\nname = "bad"\n\n[body]\nzero_init_residual = true\n'
                    'placement = "relu_only_preactivation"\ngate_bias = -6.0\n')
    with pytest.raises(SpecError) as caught:
        read_spec(path)
    assert [(problem.line, problem.field) for problem in caught.value.problems] == [
        (6, "body.placement"), (7, "body.gate_bias"),
    ]


def test_the_plain_counterpart_drops_what_acts_on_the_shortcut() -> None:
    """`archgen build --plain` of a gated net: the same layers without shortcuts, so without their gates."""
    spec = parse_spec(_spec(gate="exclusive", gate_bias=-6.0, shortcut_dropout=0.5, placement="bn_after_addition"))
    plain = plain_counterpart(spec).body
    assert not plain.residual and plain.placement == "bn_after_addition"
    assert all(getattr(plain, field) == Body.model_fields[field].default for field in SHORTCUT_VARIANT_FIELDS)


def test_every_new_field_has_a_description() -> None:
    for field in ("placement", *SHORTCUT_VARIANT_FIELDS):
        description = Body.model_fields[field].description or ""
        assert "He et al. 2016b" in description or "Fig. 2" in description or "Table 1" in description, field


def test_a_misspelt_reference_is_one_short_line_among_many_networks() -> None:
    """The paper networks a `reference` names (43 with the ablation rows) are counted, not listed, in the line."""
    data = {**_spec(), "reference": "resnet110-exclusive-gating-b6"}
    [message] = _messages(data)
    assert message.startswith("reference: string 'resnet110-exclusive-gating-b6' is not allowed; did you mean "
                              "'resnet110-exclusive-gating-b-6'")
    assert message.endswith("values, listed by `archgen schema --format markdown`)") and len(message) < 300
    assert _messages(_spec(gate="highway"))[0].endswith("(choose from 'none', 'exclusive', 'shortcut_only')")
