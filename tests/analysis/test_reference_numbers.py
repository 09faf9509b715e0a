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


# He et al. 2016b ("Identity Mappings"), CIFAR-10 test error %, copied by hand from the paper: Table 1 (ResNet-110
# with each shortcut of Fig. 2) and Table 2 (ResNet-110 and ResNet-164 with each placement of Fig. 4). None is
# "fail": a test error "higher than 20%".
IDENTITY_ERRORS = {
    "resnet110-original": 6.61,
    "resnet110-scaling0": None,  # 0 on the shortcut: "This is a plain net"
    "resnet110-scaling0.5": None,
    "resnet110-frozen-gating": 12.35,  # 0.5 on the shortcut and on F
    "resnet110-exclusive-gating-b0": None,  # the row "init b_g = 0 to -5"
    "resnet110-exclusive-gating-b-6": 8.70,
    "resnet110-exclusive-gating-b-7": 9.81,
    "resnet110-shortcut-gating-b0": 12.86,
    "resnet110-shortcut-gating-b-6": 6.91,
    "resnet110-conv-shortcut": 12.22,
    "resnet110-dropout-shortcut": None,
    "resnet110-bn-after-addition": 8.17,
    "resnet110-relu-before-addition": 7.84,
    "resnet110-relu-only-preactivation": 6.71,
    "resnet110-full-preactivation": 6.37,
    "resnet164-original": 5.93,
    "resnet164-bn-after-addition": 6.50,
    "resnet164-relu-before-addition": 6.14,
    "resnet164-relu-only-preactivation": 5.91,
    "resnet164-full-preactivation": 5.46,
}


def gates(widths: tuple[int, ...] = (16, 32, 64), blocks: int = 18, stem: int = 16) -> int:
    """Params of a 1x1 conv with bias from each block's input to its output, as He et al. 2016b's g(x) is."""
    total, channels = 0, stem
    for width in widths:
        for _ in range(blocks):
            total, channels = total + channels * width + width, width
    return total


def test_every_identity_mappings_row_is_shipped_with_the_papers_error() -> None:
    assert {name for name in PAPER_NUMBERS if name in IDENTITY_ERRORS} == set(IDENTITY_ERRORS)
    for name, error in IDENTITY_ERRORS.items():
        assert load_spec(name).reference == name
        assert PAPER_NUMBERS[name].paper_error == error, name
        assert ("'fail'" in PAPER_NUMBERS[name].source) == (error is None), name


def identity_params() -> dict[str, int]:
    """Scales, dropout and the placements of BN and ReLU add nothing to ResNet-110 (REFERENCE.md, option A); gates
    add their 1x1 convs; the 1x1 conv shortcut is option C; the post-activation ResNet-164 has the pre-activation
    one's convs and more BN: the stem's, each block's output instead of its input, the projections', not the head's."""
    option_a, _, option_c, _ = CIFAR[110]
    post_164 = PREACT["resnet164"] + 2 * (16 + (256 - 16) + (64 + 128 + 256) - 256)
    params = {name: option_a if name.startswith("resnet110") else post_164 for name in IDENTITY_ERRORS}
    gated = [name for name in IDENTITY_ERRORS if "gating-b" in name]
    return params | dict.fromkeys(gated, option_a + gates()) | {
        "resnet110-conv-shortcut": option_c, "resnet164-full-preactivation": PREACT["resnet164"]
    }


@pytest.mark.parametrize("name", sorted(IDENTITY_ERRORS))
def test_identity_mappings_params_from_resnet110_and_resnet164(name: str) -> None:
    assert analyze(load_spec(name)).params == identity_params()[name]


def test_identity_mappings_counts_by_hand() -> None:
    assert gates() == 96_224 and len([name for name in identity_params() if "gating-b" in name]) == 5
    assert identity_params()["resnet164-original"] - PREACT["resnet164"] == 896
    # the placements move layers, so every one has its net's MACs: ResNet-110's, or the pre-activation ResNet-164's
    assert analyze(load_spec("resnet110-bn-after-addition")).macs == CIFAR[110][3]
    assert analyze(load_spec("resnet164-relu-before-addition")).macs == analyze(load_spec("resnet164")).macs
