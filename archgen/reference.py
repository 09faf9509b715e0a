"""Published numbers for the paper networks, so reports can print them beside archgen's.

Pure data from ../shared/REFERENCE.md (He et al. 2016a/b; torchvision and timm); imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperNumbers:
    """What is known about one published network: exact counts and what the paper printed."""

    params: int
    """Exact parameter count (BN affine and classifier bias included, running statistics excluded)."""
    gmacs: float | None
    """Multiply-accumulates of conv and linear layers in billions, rounded to three decimals."""
    macs: int | None = None
    """Exact multiply-accumulates where a reference states them."""
    paper_params: str | None = None
    """The parameter count as the paper prints it (e.g. "0.27M")."""
    paper_gflops: float | None = None
    """The paper's "FLOPs (multiply-adds)" in billions (Table 1)."""
    paper_error: float | None = None
    """The paper's error in percent: top-1 10-crop on ImageNet (Table 3), test error on CIFAR-10."""
    source: str = ""


def _cifar(params: int, macs: int, paper_params: str, error: float | None) -> PaperNumbers:
    return PaperNumbers(
        params=params,
        gmacs=round(macs / 1e9, 3),
        macs=macs,
        paper_params=paper_params,
        paper_error=error,
        source="He et al. 2016, Sec. 4.2, Table 6 (CIFAR-10, option A)",
    )


_TABLE_1 = "He et al. 2016, Table 1; params as torchvision/timm"


# Exact params and MACs of an ablation row, and what they are.
_Counts = tuple[int, int, str]
_RESNET110: _Counts = (1_727_962, 252_887_680, "ResNet-110's")
# Gates: each of ResNet-110's 54 blocks adds g(x)'s 1x1 conv with a bias (He et al. 2016b, Sec. 3.1), strided
# and widened where the block changes the shape: 18 x (16 x 16 + 16) + (16 x 32 + 32) + 17 x (32 x 32 + 32)
# + (32 x 64 + 64) + 17 x (64 x 64 + 64) = 96,224 params; the same 1x1 convs as option C's, 13,893,632 MACs.
_GATED: _Counts = (1_727_962 + 96_224, 252_887_680 + 13_893_632, "ResNet-110's and 54 gates'")
_OPTION_C: _Counts = (1_826_202, 252_887_680 + 13_893_632, "ResNet-110's, option C")
# The post-activation ResNet-164 has the pre-activation one's convs (247,646,720 MACs) and 896 more BN params: the
# stem's 16 channels, every block's output rather than its input (256 - 16), the projections' 64 + 128 + 256, less
# the head's 256; two each (gamma, beta).
_POST_164: _Counts = (1_703_258 + 896, 247_646_720, "pre-activation ResNet-164's, 896 more BN")
_PREACT_164: _Counts = (1_703_258, 247_646_720, "resnet164's")


def _ablation(error: float | None, row: str, counts: _Counts = _RESNET110) -> PaperNumbers:
    """A row of He et al. 2016b's Table 1 or 2: the CIFAR-10 test error, "the median accuracy of 5 runs" (Sec. 3.1),
    or None where the row says "fail" ("when the test error is higher than 20%"), which the source then says.

    Counts default to ResNet-110's (option A): scales, dropout and where BN and ReLU sit add no parameters or MACs.
    """
    params, macs, what = counts
    outcome = "CIFAR-10 test error, median of 5 runs" if error is not None else "'fail': CIFAR-10 test error over 20%"
    return PaperNumbers(params, round(macs / 1e9, 3), macs, None, None, error,
                        f"He et al. 2016b, {row}: {outcome}; params and MACs: {what}")


PAPER_NUMBERS: dict[str, PaperNumbers] = {
    # ImageNet, option B, stride in the bottleneck's 1x1 as in the paper ("v1").
    "resnet18": PaperNumbers(11_689_512, 1.814, 1_814_073_344, "11.7M", 1.8, None, _TABLE_1),
    "resnet34": PaperNumbers(21_797_672, 3.664, None, "21.8M", 3.6, 24.52, _TABLE_1 + "; error Table 3 (B)"),
    "resnet50": PaperNumbers(25_557_032, 3.858, 3_857_973_248, "25.6M", 3.8, None, _TABLE_1),
    "resnet101": PaperNumbers(44_549_160, 7.570, None, "44.5M", 7.6, None, _TABLE_1),
    "resnet152": PaperNumbers(60_192_808, 11.282, None, "60.2M", 11.3, None, _TABLE_1),
    # ImageNet "v1.5": the stride sits in the 3x3, as in torchvision and timm. Not the paper's
    # network (its Table 1 counts v1), so no paper figures are set beside it.
    "resnet50-v1.5": PaperNumbers(25_557_032, 4.089, 4_089_184_256, source="torchvision/timm resnet50"),
    "resnet101-v1.5": PaperNumbers(44_549_160, 7.801, 7_801_405_440, source="torchvision/timm resnet101"),
    "resnet152-v1.5": PaperNumbers(60_192_808, 11.514, 11_513_626_624, source="torchvision/timm resnet152"),
    # Plain ImageNet nets: the same layers without shortcuts; the paper's 1.8/3.6 GFLOPs count these.
    "plain18": PaperNumbers(11_515_688, 1.795, None, None, 1.8, None, _TABLE_1),
    # REFERENCE.md prints 3.645 for plain-34, a double rounding (3.64449 -> 3.6445 -> 3.645) of the
    # 3,644,493,824 MACs that FlopCounterMode measures on the built net (ResNet-34 minus its projections).
    "plain34": PaperNumbers(21_623_848, 3.644, 3_644_493_824, None, 3.6, 28.54, _TABLE_1 + "; error Table 3"),
    # CIFAR-10, 6n+2 layers, option A: residual and plain nets have exactly the same parameters.
    "resnet20": _cifar(269_722, 40_551_040, "0.27M", 8.75),
    "resnet32": _cifar(464_154, 68_862_592, "0.46M", 7.51),
    "resnet44": _cifar(658_586, 97_174_144, "0.66M", 7.17),
    "resnet56": _cifar(853_018, 125_485_696, "0.85M", 6.97),
    "resnet110": _cifar(1_727_962, 252_887_680, "1.7M", 6.43),
    "resnet1202": _cifar(19_421_274, 2_829_238_912, "19.4M", 7.93),
    "plain20": _cifar(269_722, 40_551_040, "0.27M", None),
    "plain32": _cifar(464_154, 68_862_592, "0.46M", None),
    "plain44": _cifar(658_586, 97_174_144, "0.66M", None),
    "plain56": _cifar(853_018, 125_485_696, "0.85M", None),
    "plain110": _cifar(1_727_962, 252_887_680, "1.7M", None),
    # Pre-activation bottleneck nets on CIFAR-10, 9n+2 layers (He et al. 2016b).
    "resnet164": PaperNumbers(1_703_258, 0.248, None, "1.7M", None, None, "He et al. 2016b"),
    # The paper's "10.2M" counts no BN parameters (10,178,490), so it is not set beside archgen's count.
    "resnet1001": PaperNumbers(
        10_327_706, None, None, None, None, 4.62, "He et al. 2016b; its 10.2M params exclude BN (10,178,490)"
    ),
    # He et al. 2016b, Table 1: ResNet-110 with each shortcut of Fig. 2 (and Table 2's first ResNet-110 row).
    "resnet110-original": _ablation(6.61, "Table 1 and Table 2 (ResNet-110), original"),
    "resnet110-scaling0": _ablation(None, "Table 1, constant scaling, 0 on the shortcut ('This is a plain net')"),
    "resnet110-scaling0.5": _ablation(None, "Table 1, constant scaling, 0.5 on the shortcut, 1 on F"),
    "resnet110-frozen-gating": _ablation(12.35, "Table 1, constant scaling, 0.5 on both ('frozen gating')"),
    "resnet110-exclusive-gating-b0": _ablation(None, "Table 1, exclusive gating, init b_g = 0 to -5", _GATED),
    "resnet110-exclusive-gating-b-6": _ablation(8.70, "Table 1, exclusive gating, init b_g = -6", _GATED),
    "resnet110-exclusive-gating-b-7": _ablation(9.81, "Table 1, exclusive gating, init b_g = -7", _GATED),
    "resnet110-shortcut-gating-b0": _ablation(12.86, "Table 1, shortcut-only gating, init b_g = 0", _GATED),
    "resnet110-shortcut-gating-b-6": _ablation(6.91, "Table 1, shortcut-only gating, init b_g = -6", _GATED),
    "resnet110-conv-shortcut": _ablation(12.22, "Table 1, 1x1 conv shortcut", _OPTION_C),
    "resnet110-dropout-shortcut": _ablation(None, "Table 1, dropout shortcut (0.5)"),
    # He et al. 2016b, Table 2: ResNet-110 and ResNet-164 with each placement of BN and ReLU of Fig. 4.
    "resnet110-bn-after-addition": _ablation(8.17, "Table 2, ResNet-110, BN after addition"),
    "resnet110-relu-before-addition": _ablation(7.84, "Table 2, ResNet-110, ReLU before addition"),
    "resnet110-relu-only-preactivation": _ablation(6.71, "Table 2, ResNet-110, ReLU-only pre-activation"),
    "resnet110-full-preactivation": _ablation(6.37, "Table 2, ResNet-110, full pre-activation"),
    "resnet164-original": _ablation(5.93, "Table 2, ResNet-164, original", _POST_164),
    "resnet164-bn-after-addition": _ablation(6.50, "Table 2, ResNet-164, BN after addition", _POST_164),
    "resnet164-relu-before-addition": _ablation(6.14, "Table 2, ResNet-164, ReLU before addition", _POST_164),
    "resnet164-relu-only-preactivation": _ablation(5.91, "Table 2, ResNet-164, ReLU-only pre-activation", _POST_164),
    "resnet164-full-preactivation": _ablation(5.46, "Table 2, ResNet-164, full pre-activation", _PREACT_164),
}
