"""Rules that relate several fields of a spec, each reported with the rule, the value and a field path.

Pure arithmetic on the spec; knows nothing of files (the loader adds lines) or torch.
"""

from __future__ import annotations

from collections.abc import Iterator

from archgen.spec.fields import Loc
from archgen.spec.schema import MAX_WIDTH, SHORTCUT_VARIANT_FIELDS, Body, NetSpec, Stage

RuleViolation = tuple[Loc, str]

MAX_TOTAL_BLOCKS = 2000
MAX_OUT_WIDTH = 32768


def check(spec: NetSpec) -> list[RuleViolation]:
    """Every rule the spec breaks, in the order a reader meets the fields."""
    violations = [
        *_bottleneck_only_fields(spec),
        *_body_form(spec),
        *_stem_width(spec),
        *_groups(spec),
        *_option_a_widths(spec),
        *_strides(spec),
        *_declared_depth(spec),
        *_size_limits(spec),
        *_placement(spec),
        *_shortcut_variants(spec),
        *_zero_init(spec),
        *_frozen_stages(spec),
        *_augmentation(spec),
        *_evaluation(spec),
    ]
    if not violations and spec.search is not None:
        from archgen.spec.search_points import check_search  # a search space is judged on a valid base

        violations += check_search(spec)
    return violations


def stage_loc(spec: NetSpec, index: int, field: str) -> Loc:
    """Where a stage's field is written: `body.stages.i.field`, or the rule-form key it derives from.

    In the rule form a stage's depth and its stride (there because it is not the first) come from
    `depths[i]`; its width from `width`.
    """
    if spec.body.stages is not None:
        return ("body", "stages", index, field)
    return ("body", "width") if field == "width" else ("body", "depths", index)


def _bottleneck_only_fields(spec: NetSpec) -> Iterator[RuleViolation]:
    body = spec.body
    if body.bottleneck:
        return
    for field in ("expansion", "stride_at", "width_per_group"):
        if getattr(body, field) is not None:
            yield ("body", field), f"applies to bottleneck blocks only, but block = {body.block!r}"


def _body_form(spec: NetSpec) -> Iterator[RuleViolation]:
    body = spec.body
    if body.stages is not None and (body.depths is not None or body.width is not None):
        extra = "depths" if body.depths is not None else "width"
        yield ("body", extra), "write the body either by rule (depths + width) or as [[body.stages]], not both"
    elif body.stages is None:
        for field in ("depths", "width"):
            if getattr(body, field) is None:
                yield ("body", field), "required: the body needs depths and width, or [[body.stages]]"


def _stem_width(spec: NetSpec) -> Iterator[RuleViolation]:
    if spec.stem.kind == "deep" and spec.stem.width < 2:  # its first two convs are width // 2 wide (timm's resnet*c)
        yield ("stem", "width"), (
            f"the deep stem's inner convs are width // 2 = {spec.stem.width // 2} channels wide; "
            f"give it at least 2, got {spec.stem.width}"
        )


def _stage_widths(spec: NetSpec) -> Iterator[tuple[int, Stage, int, int]]:
    """(index, stage, input channels, output channels) of every stage."""
    in_width = spec.stem.width
    for index, stage in enumerate(spec.body.resolved_stages()):
        out_width = stage.width * spec.body.out_expansion
        yield index, stage, in_width, out_width
        in_width = out_width


def _groups(spec: NetSpec) -> Iterator[RuleViolation]:
    body, groups = spec.body, spec.body.groups
    if groups == 1 and not body.bottleneck:
        return
    if not body.bottleneck and spec.stem.width % groups:
        yield ("stem", "width"), (
            f"must be divisible by groups={groups}, since it feeds stages.0's grouped 3x3 conv; got {spec.stem.width}"
        )
    for index, stage in enumerate(body.resolved_stages()):
        if body.bottleneck and groups == 1 and body.inner_width(stage.width) < 1:
            yield stage_loc(spec, index, "width"), (
                f"stages.{index}'s 3x3 width int({stage.width} x {body.width_per_group} / 64) = 0 has no channels; "
                "raise width or width_per_group"
            )
        elif body.bottleneck and body.inner_width(stage.width) < groups:
            yield stage_loc(spec, index, "width"), (
                f"stages.{index}'s 3x3 width int({stage.width} x {body.width_per_group or 64} / 64) x {groups} "
                f"= {body.inner_width(stage.width)} leaves less than one channel per group"
            )
        elif not body.bottleneck and stage.width % groups:
            yield stage_loc(spec, index, "width"), (
                f"stages.{index} width must be divisible by groups={groups}, got {stage.width}"
            )


def _option_a_widths(spec: NetSpec) -> Iterator[RuleViolation]:
    if spec.body.shortcut != "A" or not spec.body.residual:
        return
    for index, _, in_width, out_width in _stage_widths(spec):
        if out_width < in_width:
            yield stage_loc(spec, index, "width"), (
                f"shortcut A zero-pads channels, so widths must not decrease: "
                f"stages.{index} goes from {in_width} to {out_width} channels (use shortcut B or C)"
            )


def _stem_strides(spec: NetSpec) -> tuple[int, ...]:
    """Strides of the stem's down-sampling layers, in order."""
    return {"cifar": (), "imagenet": (2, 2), "deep": (2, 2)}[spec.stem.kind]


def _strides(spec: NetSpec) -> Iterator[RuleViolation]:
    size = spec.input.size
    for stride in _stem_strides(spec):
        if size < stride:
            yield ("stem", "kind"), (
                f"the {spec.stem.kind} stem's stride {stride} meets a {size}x{size} map; "
                f"input.size = {spec.input.size} is too small for this stem"
            )
            return
        size = -(-size // stride)
    for index, stage in enumerate(spec.body.resolved_stages()):
        if size < stage.stride:
            yield stage_loc(spec, index, "stride"), (
                f"the map is down to {size}x{size} before stages.{index}, too small for its stride {stage.stride}: "
                f"input.size = {spec.input.size} does not survive this many strided stages"
            )
            return
        size = -(-size // stage.stride)


def _declared_depth(spec: NetSpec) -> Iterator[RuleViolation]:
    if spec.depth is None:
        return
    stages = spec.body.resolved_stages()
    if not stages:
        return
    per_block = 3 if spec.body.bottleneck else 2
    blocks = [stage.depth for stage in stages]
    actual = 2 + per_block * sum(blocks)
    if actual == spec.depth:
        return
    if len(set(blocks)) == 1 and len(blocks) == 3:
        formula = f"{3 * per_block}n+2 with n = {blocks[0]} blocks per stage gives {actual}"
    else:
        formula = f"1 stem conv + {per_block} x {sum(blocks)} block convs + 1 classifier = {actual}"
    yield ("depth",), f"declared depth {spec.depth} does not match the body: {formula}"


def _size_limits(spec: NetSpec) -> Iterator[RuleViolation]:
    stages = spec.body.resolved_stages()
    total = sum(stage.depth for stage in stages)
    if total > MAX_TOTAL_BLOCKS:
        yield ("body", "stages" if spec.body.stages is not None else "depths"), (
            f"{total} blocks in all is more than archgen builds (at most {MAX_TOTAL_BLOCKS}; ResNet-1202 has 600)"
        )
    if spec.body.stages is None:  # explicit stages are checked field by field; derived widths only here
        for index, stage in enumerate(stages):
            if stage.width > MAX_WIDTH:
                yield ("body", "width"), (
                    f"each stage doubles the width, so stages.{index} would be {stage.width} wide, "
                    f"more than archgen builds (at most {MAX_WIDTH})"
                )
                return
    for index, _, _, out_width in _stage_widths(spec):
        if out_width > MAX_OUT_WIDTH:
            yield stage_loc(spec, index, "width"), (
                f"stages.{index} outputs {out_width} channels, more than archgen builds (at most {MAX_OUT_WIDTH})"
            )


# --- He et al. 2016b's ablations: placements of BN and ReLU (Fig. 4), what acts on the shortcut (Fig. 2) --------


def _placement(spec: NetSpec) -> Iterator[RuleViolation]:
    body = spec.body
    if body.placement is not None and body.preact:
        yield ("body", "placement"), (
            f"block = {body.block!r} is already the full pre-activation unit (He et al. 2016b, Fig. 4e); "
            f"placement rearranges a basic or bottleneck block, so write block = {body.block.removeprefix('preact_')!r}"
        )


def _shortcut_variants(spec: NetSpec) -> Iterator[RuleViolation]:
    body = spec.body
    changed = [field for field in SHORTCUT_VARIANT_FIELDS if getattr(body, field) != Body.model_fields[field].default]
    if not body.residual:
        for field in changed:
            yield ("body", field), "acts on the shortcut, but residual = false: a plain net has none"
        return
    if body.gate_bias is not None and body.gate == "none":
        yield ("body", "gate_bias"), (
            "is the initial bias of a gate, but gate = 'none' (choose 'exclusive' or 'shortcut_only')"
        )
    if body.shortcut_scale == 0:
        yield ("body", "shortcut_scale"), (
            "0 leaves no shortcut, the plain net of He et al. 2016b's Table 1: write residual = false"
        )
    if body.gate != "none":
        for field in ("shortcut_scale", "branch_scale"):
            if getattr(body, field) != 1:
                yield ("body", field), (
                    f"gate = {body.gate!r} already scales by g(x), and constant scaling is a frozen gate "
                    "(He et al. 2016b, Sec. 3.1): use one or the other"
                )


def _zero_init(spec: NetSpec) -> Iterator[RuleViolation]:
    """zero_init_residual starts F at 0; the block is then the identity only if nothing else acts on x."""
    body = spec.body
    if not body.zero_init_residual or not body.residual:
        return
    outputs = {
        "shortcut_scale": f"{body.shortcut_scale} x (shortcut_scale = {body.shortcut_scale})",
        "gate": f"(1 - g(x)) x (gate = {body.gate!r})",
        "shortcut_dropout": f"x with elements dropped (shortcut_dropout = {body.shortcut_dropout})",
    }
    why = [output for field, output in outputs.items() if getattr(body, field) != Body.model_fields[field].default]
    if body.resolved_placement == "bn_after_addition":
        why.append("relu(bn(x)) (placement = 'bn_after_addition')")
    if why:
        yield ("body", "zero_init_residual"), (
            f"cannot start each block as the identity: with F at zero a block outputs {', and '.join(why)}"
        )


def _frozen_stages(spec: NetSpec) -> list[RuleViolation]:
    """Freezing more parts than the network has (the stem and its stages) would freeze nothing it names."""
    parts = 1 + len(spec.body.resolved_stages())
    if spec.train.frozen_stages <= parts:
        return []
    return [(("train", "frozen_stages"), f"the network has {parts} parts to freeze (the stem and {parts - 1} stages), "
                                         f"got {spec.train.frozen_stages}")]


# --- the recipe's augmentation and evaluation crops (He et al. 2016, Sec. 3.4; torchvision's references) --------


def _augmentation(spec: NetSpec) -> Iterator[RuleViolation]:
    train, size = spec.train, spec.input.size
    for field in ("scale", "crop_area", "crop_ratio"):
        low, high = getattr(train, field)
        if low > high:
            yield ("train", field), f"is a range [low, high], but its low end {low} is above its high end {high}"
    low, high = train.scale
    if train.augment == "scale" and low <= high and low < size:
        yield ("train", "scale"), (
            f"the {size}x{size} crop (input.size) is larger than a shorter side resized to {low}: "
            "the range must start at input.size or above"
        )
    if train.lighting and train.augment == "none":
        yield ("train", "lighting"), "is colour noise added to augmented training images, but augment = 'none'"
    elif train.lighting and spec.input.channels != 3:
        yield ("train", "lighting"), (
            f"shifts RGB colours along ImageNet's principal components, but input.channels = {spec.input.channels}"
        )


def _evaluation(spec: NetSpec) -> Iterator[RuleViolation]:
    train, size = spec.train, spec.input.size
    resized = train.eval_resize or size
    if resized < size:
        yield ("train", "eval_resize"), (
            f"the {size}x{size} crop (input.size) is larger than a shorter side resized to {resized}"
        )
    elif train.eval_crop == "ten" and resized == size:
        yield ("train", "eval_crop"), (
            f"ten crops of {size}x{size} from images whose shorter side is {size} leave the corners no room: set "
            f"eval_resize above input.size (256 for 224)"
        )

