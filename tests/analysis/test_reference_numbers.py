"""Every number REFERENCE.md states about a paper network, reproduced exactly by the analysis.

The tables below are copied from REFERENCE.md by hand (not from archgen.reference), so a wrong
entry in `archgen.reference.PAPER_NUMBERS` fails here too. Computed at the specs' real sizes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
import torch
from torch import nn

from archgen import NetSpec, analyze, build_model, load_spec, parse_spec
from archgen.reference import PAPER_NUMBERS
from archgen.spec.library import shipped_specs

# REFERENCE.md, ImageNet family: params and GMACs (three decimals) and, where stated, exact MACs.
IMAGENET = {
    "resnet18": (11_689_512, "1.814", 1_814_073_344),
    "resnet34": (21_797_672, "3.664", None),
    "resnet50": (25_557_032, "3.858", 3_857_973_248),
    "resnet101": (44_549_160, "7.570", None),
    "resnet152": (60_192_808, "11.282", None),
    "resnet50-v1.5": (25_557_032, "4.089", 4_089_184_256),
    "resnet101-v1.5": (44_549_160, "7.801", 7_801_405_440),
    "resnet152-v1.5": (60_192_808, "11.514", 11_513_626_624),
    "plain18": (11_515_688, "1.795", None),
    # REFERENCE.md prints 3.645; the exact count is 3,644,493,824 (see test_plain34_double_rounding).
    "plain34": (21_623_848, "3.644", 3_644_493_824),
}

# REFERENCE.md, CIFAR-10 family: n -> (option A = plain, option B, option C params; MACs option A).
CIFAR = {
    20: (269_722, 272_474, 283_962, 40_551_040),
    32: (464_154, 466_906, 489_594, 68_862_592),
    44: (658_586, 661_338, 695_226, 97_174_144),
    56: (853_018, 855_770, 900_858, 125_485_696),
    110: (1_727_962, 1_730_714, 1_826_202, 252_887_680),
    1202: (19_421_274, 19_424_026, 20_538_714, 2_829_238_912),
}

PREACT = {"resnet164": 1_703_258, "resnet1001": 10_327_706}

REFERENCED = sorted(name for name in shipped_specs() if load_spec(name).reference is not None)


def rounded(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def gmacs(macs: int) -> str:
    return str(rounded(Decimal(macs) / 10**9, "0.001"))


def with_body(spec: NetSpec, **changes: object) -> NetSpec:
    """A validated variant of `spec` with some body fields changed (how a user would write one)."""
    data = spec.model_dump(exclude_none=True)
    return parse_spec({**data, "body": {**data["body"], **changes}})


@pytest.mark.parametrize("name", sorted(IMAGENET))
def test_imagenet_numbers(name: str) -> None:
    params, expected_gmacs, macs = IMAGENET[name]
    complexity = analyze(load_spec(name))
    assert complexity.params == params
    assert gmacs(complexity.macs) == expected_gmacs
    if macs is not None:
        assert complexity.macs == macs


def test_plain34_double_rounding() -> None:
    """REFERENCE.md's 3.645 for plain-34 is 3.64449... rounded twice (-> 3.6445 -> 3.645), as reference.py says."""
    macs = analyze(load_spec("plain34")).macs
    assert macs == 3_644_493_824
    once = rounded(Decimal(macs) / 10**9, "0.0001")
    assert (once, rounded(once, "0.001")) == (Decimal("3.6445"), Decimal("3.645"))
    assert PAPER_NUMBERS["plain34"].gmacs == 3.644


@pytest.mark.parametrize("n", sorted(CIFAR))
def test_cifar_numbers_for_every_shortcut_option(n: int) -> None:
    option_a, option_b, option_c, macs = CIFAR[n]
    resnet, plain = load_spec(f"resnet{n}"), None if n == 1202 else load_spec(f"plain{n}")
    assert resnet.body.shortcut == "A"
    assert (analyze(resnet).params, analyze(resnet).macs) == (option_a, macs)
    if plain is not None:  # the paper trains no plain-1202
        assert (analyze(plain).params, analyze(plain).macs) == (option_a, macs)
    assert analyze(with_body(resnet, shortcut="B")).params == option_b == option_a + 2_752
    assert analyze(with_body(resnet, shortcut="C")).params == option_c


@pytest.mark.parametrize("name", sorted(PREACT))
def test_preact_params(name: str) -> None:
    assert analyze(load_spec(name)).params == PREACT[name]


def test_preact_resnet164_macs() -> None:
    """REFERENCE.md: ≈ 247.7 M MACs, again a double rounding of 247,646,720 (-> 247.65 -> 247.7)."""
    macs = analyze(load_spec("resnet164")).macs
    assert macs == 247_646_720
    assert rounded(rounded(Decimal(macs) / 10**6, "0.01"), "0.1") == Decimal("247.7")


def test_preact_resnet1001_params_without_bn() -> None:
    """REFERENCE.md: 10,178,490 parameters once BN's affine weights are left out."""
    with torch.device("meta"):
        model = build_model(load_spec("resnet1001"))
    norms = (nn.BatchNorm2d,)
    bn = sum(p.numel() for m in model.modules() if isinstance(m, norms) for p in m.parameters())
    assert sum(p.numel() for p in model.parameters()) - bn == 10_178_490


@pytest.mark.parametrize("name", REFERENCED)
def test_every_referenced_spec_matches_paper_numbers(name: str) -> None:
    """What `archgen build` prints beside a paper network equals archgen's own count."""
    spec = load_spec(name)
    paper, complexity = PAPER_NUMBERS[spec.reference], analyze(spec)
    assert complexity.params == paper.params
    if paper.macs is not None:
        assert complexity.macs == paper.macs
    if paper.gmacs is not None:
        assert gmacs(complexity.macs) == f"{paper.gmacs:.3f}"


def test_every_paper_network_is_shipped() -> None:
    assert {load_spec(name).reference for name in REFERENCED} == set(PAPER_NUMBERS)


def test_paper_numbers_agree_with_reference_md() -> None:
    """archgen.reference holds REFERENCE.md's numbers (the tables above are the copy checked by hand)."""
    for name, (params, expected_gmacs, macs) in IMAGENET.items():
        assert (PAPER_NUMBERS[name].params, f"{PAPER_NUMBERS[name].gmacs:.3f}") == (params, expected_gmacs)
        assert macs is None or PAPER_NUMBERS[name].macs == macs
    for n, (option_a, _, _, macs) in CIFAR.items():
        assert (PAPER_NUMBERS[f"resnet{n}"].params, PAPER_NUMBERS[f"resnet{n}"].macs) == (option_a, macs)
    for name, params in PREACT.items():
        assert PAPER_NUMBERS[name].params == params
