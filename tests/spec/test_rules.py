"""Rules that relate several fields: each states the rule and the value, and names stages as `stages.i`."""

from __future__ import annotations

from typing import Any

import pytest

from archgen.errors import SpecError
from archgen.spec import parse_spec


def _spec(**body: Any) -> dict[str, Any]:
    return {
        "name": "net",
        "input": {"size": 32, "classes": 10},
        "stem": {"kind": "cifar", "width": 16},
        "body": {"block": "basic", "depths": [1, 1, 1], "width": 16, **body},
    }


def _messages(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    return [f"{problem.field}: {problem.message}" for problem in caught.value.problems]


def test_a_valid_body_passes() -> None:
    assert parse_spec(_spec()).body.depths == (1, 1, 1)


def test_bottleneck_only_fields_on_basic_blocks() -> None:
    assert _messages(_spec(stride_at="1x1", width_per_group=4)) == [
        "body.stride_at: applies to bottleneck blocks only, but block = 'basic'",
        "body.width_per_group: applies to bottleneck blocks only, but block = 'basic'",
    ]


def test_explicit_stages_and_rule_form_exclude_each_other() -> None:
    data = _spec(stages=[{"depth": 1, "width": 16, "stride": 1}])
    assert _messages(data) == [
        "body.depths: write the body either by rule (depths + width) or as [[body.stages]], not both"
    ]


def test_groups_must_divide_every_width_named_by_stage_path() -> None:
    data = _spec(groups=32, depths=None, width=None, stages=[
        {"depth": 1, "width": 32, "stride": 1}, {"depth": 1, "width": 48, "stride": 2}
    ])
    data["stem"]["width"] = 32
    assert _messages(data) == ["body.stages.1.width: stages.1 width must be divisible by groups=32, got 48"]


def test_grouped_bottleneck_needs_a_channel_per_group() -> None:
    data = _spec(block="bottleneck", groups=64, width_per_group=1, shortcut="B")
    assert _messages(data)[0] == (
        "body.width: stages.0's 3x3 width int(16 x 1 / 64) x 64 = 0 leaves less than one channel per group"
    )


def test_option_a_needs_non_decreasing_widths() -> None:
    data = _spec(shortcut="A", depths=None, width=None, stages=[
        {"depth": 1, "width": 64, "stride": 1}, {"depth": 1, "width": 32, "stride": 2}
    ])
    assert _messages(data) == [
        "body.stages.1.width: shortcut A zero-pads channels, so widths must not decrease: "
        "stages.1 goes from 64 to 32 channels (use shortcut B or C)"
    ]
    assert not parse_spec({**data, "body": {**data["body"], "residual": False}}).body.residual  # plain: no shortcut


def test_the_input_must_survive_every_stride() -> None:
    data = _spec(depths=[1, 1, 1, 1, 1, 1, 1])
    data["input"]["size"] = 8
    assert _messages(data) == [
        "body.depths.4: the map is down to 1x1 before stages.4, too small for its stride 2: "
        "input.size = 8 does not survive this many strided stages"
    ]


def test_the_imagenet_stem_needs_room() -> None:
    data = _spec()
    data["stem"] = {"kind": "imagenet", "width": 64}
    data["input"]["size"] = 1
    assert _messages(data) == [
        "stem.kind: the imagenet stem's stride 2 meets a 1x1 map; input.size = 1 is too small for this stem"
    ]


@pytest.mark.parametrize(
    ("block", "depths", "depth", "message"),
    [
        ("basic", [9, 9, 9], 50, "declared depth 50 does not match the body: 6n+2 with n = 9 blocks per stage"),
        ("bottleneck", [18, 18, 18], 110, "does not match the body: 9n+2 with n = 18 blocks per stage gives 164"),
        ("basic", [3, 4, 6, 3], 36, "1 stem conv + 2 x 16 block convs + 1 classifier = 34"),
    ],
)
def test_declared_depth_follows_the_formulas(block: str, depths: list[int], depth: int, message: str) -> None:
    data = {**_spec(block=block, depths=depths, shortcut="B"), "depth": depth}
    (problem,) = _messages(data)
    assert problem.startswith("depth: ") and message in problem


def test_absurd_sizes_are_refused_before_anything_is_built() -> None:
    assert _messages(_spec(depths=[1000, 1000, 1000])) == [
        "body.depths: 3000 blocks in all is more than archgen builds (at most 2000; ResNet-1202 has 600)"
    ]
    assert _messages(_spec(block="bottleneck", depths=[1], width=4096, expansion=16, shortcut="B"))[0] == (
        "body.width: stages.0 outputs 65536 channels, more than archgen builds (at most 32768)"
    )
    assert _messages(_spec(width=8192)) == [
        "body.width: each stage doubles the width, so stages.1 would be 16384 wide, "
        "more than archgen builds (at most 8192)"
    ]
