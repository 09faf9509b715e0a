"""The paper families `archgen new` writes from a depth: CIFAR 6n+2, pre-activation 9n+2, ImageNet 18-200.

Turns (family, depth, plain) into a NetSpec and the comment that explains it; refuses depths the
family cannot make, naming the ones it can. Knows nothing of files or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from archgen.errors import Problem, SpecError
from archgen.reference import PAPER_NUMBERS
from archgen.spec.loader import parse_spec
from archgen.spec.rules import MAX_TOTAL_BLOCKS
from archgen.spec.schema import MAX_STAGE_DEPTH, SHORTCUT_VARIANT_FIELDS, NetSpec

FamilyName = Literal["cifar", "preact", "imagenet", "torchvision"]

# Blocks per stage of the ImageNet nets (He et al. 2016, Table 1; ResNet-200: He et al. 2016b, as timm).
IMAGENET_DEPTHS: dict[int, tuple[int, ...]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}

_CIFAR_INPUT = {"channels": 3, "size": 32, "classes": 10}
_IMAGENET_INPUT = {"channels": 3, "size": 224, "classes": 1000}
# "we use 0.01 to warm up the training until the training error is below 80%" (He et al. 2016, Sec. 4.2)
_WARMUP = {"warmup_epochs": 1, "warmup_lr": 0.01}
# The paper's ImageNet recipe (Sec. 3.4), its plateaus fixed at epochs 30 and 60 of 90 as fb.resnet.torch and
# torchvision's references train it; the shipped resnet18..152 carry it, with the sources of each value.
_PAPER_IMAGENET: dict[str, Any] = {
    "epochs": 90, "batch_size": 256, "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "schedule": "multistep",
    "milestones": [1 / 3, 2 / 3], "gamma": 0.1, "augment": "scale", "scale": [256, 480], "lighting": 0.1,
    "eval_resize": 256, "eval_crop": "center",
}
# torchvision's (references/classification), the recipe of its weights: the same but for random-resized crops and
# no colour noise.
_TORCHVISION_IMAGENET: dict[str, Any] = {
    **{key: value for key, value in _PAPER_IMAGENET.items() if key != "scale"},
    "augment": "random-resized-crop", "crop_area": [0.08, 1.0], "crop_ratio": [3 / 4, 4 / 3], "lighting": 0.0,
}


@dataclass(frozen=True)
class NewSpec:
    """A generated spec and the comment block to write above it."""

    spec: NetSpec
    header: str


def new_spec(family: FamilyName, depth: int, *, plain: bool = False) -> NewSpec:
    """The `family` network of `depth` layers (`plain`: without shortcuts); SpecError if the family cannot make it."""
    if family in ("cifar", "preact"):
        return _cifar(family, depth, plain=plain)
    return _imagenet(family, depth, plain=plain)


# --- CIFAR: 6n+2 (basic) and 9n+2 (pre-activation bottleneck) ---------------------------------


def _cifar(family: FamilyName, depth: int, *, plain: bool) -> NewSpec:
    per_block = 2 if family == "cifar" else 3
    n = blocks_per_stage(depth, per_block=per_block)
    prefix = "plain" if plain else "resnet"
    name = f"{prefix}{depth}"
    basic = family == "cifar"
    data: dict[str, Any] = {
        "name": name,
        "description": (
            f"CIFAR-10 {'plain' if plain else 'pre-activation ResNet' if not basic else 'ResNet'}-{depth}: "
            f"three stages of {n} {'basic' if basic else 'bottleneck'} blocks at 16/32/64 filters"
            f"{'' if basic else ' (x4 out)'}{', no shortcuts' if plain else ''}."
        ),
        "reference": _reference(name, "cifar" if basic else "preact"),
        "depth": depth,
        "input": _CIFAR_INPUT,
        "stem": {"kind": "cifar", "width": 16},
        "body": {
            "block": "basic" if basic else "preact_bottleneck",
            "depths": [n, n, n],
            "width": 16,
            "shortcut": "A" if basic else "B",
            **({"residual": False} if plain else {}),
        },
        **({"train": _WARMUP} if not basic or depth >= 110 else {}),
    }
    source = "He et al. 2016, Sec. 4.2" if basic else "He et al. 2016b, Identity Mappings"
    if plain:
        shortcuts = f"the layers of ResNet-{depth} without shortcuts"
    elif basic:
        shortcuts = "identity shortcuts, zero-padded where the width doubles (option A)"
    else:
        shortcuts = "identity shortcuts, projections where the shape changes (option B)"
    header = f"{_title(name)} for CIFAR-10 ({source}): {3 * per_block}n+2 layers with n = {n}; {shortcuts}."
    return NewSpec(_parse(data), header)


def blocks_per_stage(depth: int, *, per_block: int) -> int:
    """n of a 3-stage net of `depth` = 3 x per_block x n + 2 layers, or SpecError naming the nearest depths."""
    step = 3 * per_block
    formula = f"{step}n+2"
    largest = min(MAX_STAGE_DEPTH, MAX_TOTAL_BLOCKS // 3)
    if depth > step * largest + 2:
        deepest = f"{step * largest + 2} (n={largest})"
        raise _refuse(f"depth {depth} is more than the deepest {formula} net archgen builds: {deepest}")
    n, remainder = divmod(depth - 2, step)
    if remainder == 0 and n >= 1:
        return n
    candidates = [k for k in (n, n + 1) if 1 <= k <= largest]
    nearest = " or ".join(f"{step * k + 2} (n={k})" for k in candidates)
    raise _refuse(f"depth {depth} is not {formula} with n >= 1; nearest: {nearest}")


# --- ImageNet: the published depths ----------------------------------------------------------


def _imagenet(family: FamilyName, depth: int, *, plain: bool) -> NewSpec:
    if depth not in IMAGENET_DEPTHS:
        listed = ", ".join(map(str, IMAGENET_DEPTHS))
        raise _refuse(f"depth {depth} is not an ImageNet ResNet depth; the {family} family makes {listed}")
    bottleneck = depth >= 50
    v15 = family == "torchvision"
    prefix = "plain" if plain else "resnet"
    name = f"{prefix}{depth}{'-v1.5' if v15 and bottleneck else ''}"
    layout = "v1.5: stride in the 3x3" if v15 and bottleneck else "v1: stride in the 1x1" if bottleneck else ""
    body: dict[str, Any] = {
        "block": "bottleneck" if bottleneck else "basic",
        "depths": list(IMAGENET_DEPTHS[depth]),
        "width": 64,
        "shortcut": "B",
        **({"residual": False} if plain else {}),
        **({"stride_at": "3x3" if v15 else "1x1"} if bottleneck else {}),
    }
    data: dict[str, Any] = {
        "name": name,
        "description": f"ImageNet {'plain' if plain else 'ResNet'}-{depth}{f' ({layout})' if layout else ''}"
        f"{', no shortcuts' if plain else ''}.",
        "reference": _reference(name, family),
        "depth": depth,
        "input": _IMAGENET_INPUT,
        "stem": {"kind": "imagenet", "width": 64},
        "body": body,
        "train": _TORCHVISION_IMAGENET if v15 else _PAPER_IMAGENET,
    }
    stages, total = " + ".join(map(str, IMAGENET_DEPTHS[depth])), sum(IMAGENET_DEPTHS[depth])
    per_block = 3 if bottleneck else 2
    header = (
        f"{_title(name)} (He et al. 2016, Table 1{f'; {layout}' if layout else ''}), "
        f"{'no shortcuts' if plain else 'shortcut B'}: "
        f"{stages} = {total} {'bottleneck' if bottleneck else 'basic'} blocks; "
        f"1 stem conv + {per_block} x {total} block convs + 1 classifier = {depth} layers."
    )
    return NewSpec(_parse(data), header)


# --- helpers ---------------------------------------------------------------------------------

# Which published network each family's name stands for (a CIFAR "resnet164" is not the pre-act one).
_REFERENCED = {
    "cifar": {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
              "plain20", "plain32", "plain44", "plain56", "plain110"},
    "preact": {"resnet164", "resnet1001"},
    "imagenet": {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34"},
    "torchvision": {"resnet18", "resnet34", "resnet50-v1.5", "resnet101-v1.5", "resnet152-v1.5", "plain18", "plain34"},
}


def _reference(name: str, table: str) -> str | None:
    return name if name in _REFERENCED[table] and name in PAPER_NUMBERS else None


def _parse(data: dict[str, Any]) -> NetSpec:
    return parse_spec({key: value for key, value in data.items() if value is not None})


def _title(name: str) -> str:
    """resnet110 -> ResNet-110, plain34 -> Plain-34, resnet50-v1.5 -> ResNet-50-v1.5."""
    for prefix, title in (("resnet", "ResNet-"), ("plain", "Plain-")):
        if name.startswith(prefix):
            return title + name[len(prefix):]
    return name


def _refuse(message: str) -> SpecError:
    return SpecError([Problem(None, message, field="depth")])


def plain_counterpart(spec: NetSpec) -> NetSpec:
    """The same layers without shortcuts (He et al. 2016's "plain" nets), named and referenced as the paper does."""
    if not spec.body.residual:
        return spec
    name = spec.name.replace("resnet", "plain", 1) if spec.name.startswith("resnet") else f"{spec.name}-plain"
    data = spec.model_dump(exclude_none=True)
    data["name"], data["body"]["residual"] = name[:64], False
    for field in SHORTCUT_VARIANT_FIELDS:  # scales, gates and dropout act on the shortcuts it drops
        data["body"].pop(field, None)
    # ResNet-34's plain counterpart is the paper's plain-34: same layers, its own published numbers
    reference = (spec.reference or "").replace("resnet", "plain", 1)
    data["reference"] = reference if reference in PAPER_NUMBERS else None
    return _parse(data)
