"""The spec language: frozen pydantic models for input, stem, body, head and training recipe.

Shapes and field-level bounds live here; rules that relate several fields live in `rules`.
Imports no torch: validating a spec must stay instant.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from archgen.reference import PAPER_NUMBERS
from archgen.spec.search_space import SearchSpace

# Sane upper bounds: an absurd spec gets an error in validation, never an out-of-memory.
MAX_CHANNELS = 64
MAX_SIZE = 4096
MAX_CLASSES = 100_000
MAX_WIDTH = 8192
MAX_STAGES = 8
MAX_STAGE_DEPTH = 1000
MAX_EPOCHS = 100_000

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Width = Annotated[int, Strict(), Field(ge=1, le=MAX_WIDTH)]
StageDepths = Annotated[
    tuple[Annotated[int, Strict(), Field(ge=1, le=MAX_STAGE_DEPTH)], ...], Field(min_length=1, max_length=MAX_STAGES)
]
Milestones = Annotated[tuple[Annotated[float, Strict(), Field(gt=0.0, lt=1.0)], ...], Field(max_length=16)]

BlockKind = Literal["basic", "bottleneck", "preact_basic", "preact_bottleneck"]
StemKind = Literal["cifar", "imagenet", "deep"]
ShortcutOption = Literal["A", "B", "C"]
# He et al. 2016b, Fig. 4 (a)-(e): where BN and ReLU sit around the addition.
Placement = Literal[
    "original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation", "full_preactivation"
]
Gating = Literal["none", "exclusive", "shortcut_only"]  # He et al. 2016b, Fig. 2 (c) and (d)
PaperNet = Literal[tuple(PAPER_NUMBERS)]  # type: ignore[valid-type]

BOTTLENECK_BLOCKS = ("bottleneck", "preact_bottleneck")
PREACT_BLOCKS = ("preact_basic", "preact_bottleneck")
# Body fields that act on the shortcut (He et al. 2016b, Fig. 2): a plain net, having none, takes none of them.
SHORTCUT_VARIANT_FIELDS = ("shortcut_scale", "branch_scale", "gate", "gate_bias", "shortcut_dropout")


CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]
RANDOM_INIT = "random"  # train.init's value for "no weights file"


def _compile_mode(value: object) -> object:
    """`compile = true` / `false` (what specs said before modes existed) as the modes they mean."""
    return {True: "default", False: "off"}.get(value, value) if isinstance(value, bool) else value


# How training images are augmented: the paper's CIFAR-10 and ImageNet recipes (He et al. 2016, Secs. 4.2 and 3.4),
# torchvision's (Szegedy et al. 2015's crops), or none.
AugmentKind = Literal["cifar", "scale", "random-resized-crop", "none"]
EvalCrop = Literal["center", "ten"]  # one centre crop, or Krizhevsky et al. 2012's ten (corners, centre, mirrored)
Length = Annotated[int, Strict(), Field(ge=1, le=MAX_SIZE)]
Range = Field(min_length=2, max_length=2)  # [low, high], both included
LengthRange = Annotated[tuple[Length, ...], Range]
FractionRange = Annotated[tuple[Annotated[float, Strict(), Field(gt=0.0, le=1.0)], ...], Range]
RatioRange = Annotated[tuple[Annotated[float, Strict(), Field(gt=0.0, le=10.0)], ...], Range]


def _augment_kind(value: object) -> object:
    """`augment = true` / `false` (what specs and run folders said before the kinds) as the kinds they mean."""
    return {True: "cifar", False: "none"}.get(value, value) if isinstance(value, bool) else value


class _Frozen(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


class Input(_Frozen):
    """What the network sees: image channels and size, and how many classes it tells apart."""

    channels: Annotated[int, Strict(), Field(ge=1, le=MAX_CHANNELS)] = 3
    """Image channels (3 for RGB, 1 for grey)."""
    size: Annotated[int, Strict(), Field(ge=1, le=MAX_SIZE)]
    """Height and width of the (square) input in pixels: 32 for CIFAR, 224 for ImageNet."""
    classes: Annotated[int, Strict(), Field(ge=1, le=MAX_CLASSES)]
    """Number of classes the classifier outputs."""


class Stem(_Frozen):
    """The layers before the first stage."""

    kind: StemKind
    """cifar: one 3x3 conv; imagenet: 7x7/2 conv and 3x3/2 max-pool;
    deep: three 3x3 convs (the first /2) and a 3x3/2 max-pool."""
    width: Width
    """Output channels of the stem (the deep stem's inner convs use half of it, as timm's resnet*c/d)."""


class Stage(_Frozen):
    """One stage: `depth` blocks of `width`; only the first block may change the shape."""

    depth: Annotated[int, Strict(), Field(ge=1, le=MAX_STAGE_DEPTH)]
    """Number of blocks."""
    width: Width
    """Block width: the channels of its 3x3 convs (a bottleneck outputs width x expansion)."""
    stride: Annotated[int, Strict(), Field(ge=1, le=4)]
    """Stride of the stage's first block: 2 halves the spatial size."""


class Body(_Frozen):
    """Stages of blocks, written by rule (`depths` + `width`) or explicitly (`[[body.stages]]`)."""

    block: BlockKind
    """basic (two 3x3), bottleneck (1x1, 3x3, 1x1), or their pre-activation forms (He et al. 2016b)."""
    depths: StageDepths | None = None
    """Rule form: blocks per stage; each later stage halves the spatial size and doubles the width."""
    width: Width | None = None
    """Rule form: width of the first stage."""
    stages: Annotated[tuple[Stage, ...], Field(min_length=1, max_length=MAX_STAGES)] | None = None
    """Explicit form: depth, width and stride of every stage."""
    shortcut: ShortcutOption = "B"
    """A: identity, channels zero-padded and space subsampled where the shape changes;
    B: 1x1 projection where the shape changes; C: projection in every block."""
    residual: Bool = True
    """false: the plain network, with exactly the same layers and no shortcuts."""
    expansion: Annotated[int, Strict(), Field(ge=1, le=16)] | None = None
    """Bottleneck only: output channels = width x expansion (default 4)."""
    stride_at: Literal["1x1", "3x3"] | None = None
    """Bottleneck only: where a stage's stride sits; "1x1" as in the paper (v1),
    "3x3" as in torchvision/timm (v1.5, the default)."""
    groups: Annotated[int, Strict(), Field(ge=1, le=MAX_WIDTH)] = 1
    """Groups of the 3x3 convs (ResNeXt cardinality)."""
    width_per_group: Annotated[int, Strict(), Field(ge=1, le=MAX_WIDTH)] | None = None
    """Bottleneck only: the 3x3 width is int(width x width_per_group / 64) x groups,
    as torchvision's base_width (default 64)."""
    zero_init_residual: Bool = False
    """Start each residual branch's last BN at zero: every block begins as the identity (Goyal et al. 2017)."""
    # He et al. 2016b ("Identity Mappings"): Fig. 4 / Table 2 move BN and ReLU around the addition; Fig. 2 /
    # Table 1 put scales, gates or dropout on the shortcut of y = h(x) + F(x) (Eq. 1). Defaults: the original unit.
    placement: Placement | None = None
    """Where BN and ReLU sit around the addition (He et al. 2016b, Fig. 4): original, bn_after_addition,
    relu_before_addition, relu_only_preactivation or full_preactivation; basic and bottleneck blocks only."""
    shortcut_scale: Annotated[float, Strict(), Field(ge=0.0, le=10.0)] = 1.0
    """Constant scaling: the shortcut is lambda x (He et al. 2016b, Eq. 6, Fig. 2b; Table 1 uses 0.5)."""
    branch_scale: Annotated[float, Strict(), Field(gt=0.0, le=10.0)] = 1.0
    """Constant scaling of F: F(x) times this (Table 1's "on F" column: 1 or 1 - lambda = 0.5, "frozen gating")."""
    gate: Gating = "none"
    """Gate g(x) = sigmoid(1x1 conv(x) + b_g): exclusive scales F by g and the shortcut by 1 - g (Fig. 2c);
    shortcut_only scales only the shortcut by 1 - g (Fig. 2d)."""
    gate_bias: Annotated[float, Strict(), Field(ge=-100.0, le=100.0)] | None = None
    """Initial bias b_g of the gate's 1x1 conv (Table 1 tries 0 to -7; -6 is the paper's best); default 0."""
    shortcut_dropout: Annotated[float, Strict(), Field(ge=0.0, lt=1.0)] = 0.0
    """Dropout on the shortcut's output, a 0/1 mask whose expectation scales it by 1 - rate (Fig. 2f; Table 1: 0.5)."""

    @property
    def default_expansion(self) -> int:
        return 4 if self.block in BOTTLENECK_BLOCKS else 1

    @property
    def out_expansion(self) -> int:
        """Output channels per unit of block width."""
        return self.expansion or self.default_expansion

    @property
    def preact(self) -> bool:
        return self.block in PREACT_BLOCKS

    @property
    def resolved_placement(self) -> Placement:
        """The placement of BN and ReLU: as written, else the block kind's own (preact_*: full pre-activation)."""
        return self.placement or ("full_preactivation" if self.preact else "original")

    @property
    def resolved_gate_bias(self) -> float:
        return 0.0 if self.gate_bias is None else self.gate_bias

    @property
    def bottleneck(self) -> bool:
        return self.block in BOTTLENECK_BLOCKS

    def inner_width(self, width: int) -> int:
        """Channels of a block's 3x3 conv(s) for a stage of the given width."""
        if not self.bottleneck:
            return width
        return int(width * (self.width_per_group or 64) / 64) * self.groups

    def projects(self, in_channels: int, out_channels: int, stride: int) -> bool:
        """Whether a block's shortcut is a 1x1 projection: option B where the shape changes, C always."""
        if not self.residual or self.shortcut == "A":
            return False
        return self.shortcut == "C" or stride != 1 or in_channels != out_channels

    def block_strides(self, stride: int) -> tuple[int, int]:
        """(1x1 stride, 3x3 stride) of a bottleneck: v1 strides in the 1x1, v1.5 (default) in the 3x3."""
        return (stride, 1) if self.stride_at == "1x1" else (1, stride)

    def resolved_stages(self) -> tuple[Stage, ...]:
        """The canonical stage list both forms resolve to (empty only for an invalid body)."""
        if self.stages is not None:
            return self.stages
        if self.depths is None or self.width is None:
            return ()
        # He et al. 2016, Sec. 3.3: each new stage halves the feature map and doubles the filters.
        return tuple(
            # not validated here: a doubled width past MAX_WIDTH is a rule violation located at body.width
            Stage.model_construct(depth=depth, width=self.width * 2**index, stride=1 if index == 0 else 2)
            for index, depth in enumerate(self.depths)
        )


class Head(_Frozen):
    """Global pooling, optional dropout and the linear classifier."""

    pool: Literal["avg", "max"] = "avg"
    """Global pooling over space."""
    dropout: Annotated[float, Strict(), Field(ge=0.0, lt=1.0)] = 0.0
    """Dropout before the classifier (the papers use none)."""


class Train(_Frozen):
    """The training recipe; defaults are the paper's CIFAR-10 recipe (He et al. 2016, Sec. 4.2)."""

    epochs: Annotated[int, Strict(), Field(ge=1, le=MAX_EPOCHS)] = 164
    """Epochs to train (the paper's 64k iterations at batch 128 are about 164 epochs of 50k images)."""
    batch_size: Annotated[int, Strict(), Field(ge=1, le=65536)] = 128
    """Images per optimiser step (across all processes)."""
    optimizer: Literal["sgd", "nesterov", "adamw", "lamb"] = "sgd"
    """sgd: SGD with momentum, as the paper; nesterov; adamw; lamb."""
    lr: Annotated[float, Strict(), Field(gt=0.0, le=100.0)] = 0.1
    """Peak learning rate."""
    momentum: Annotated[float, Strict(), Field(ge=0.0, lt=1.0)] = 0.9
    """Momentum for sgd and nesterov (beta1 for adamw and lamb)."""
    weight_decay: Annotated[float, Strict(), Field(ge=0.0, le=1.0)] = 1e-4
    """L2 weight decay."""
    schedule: Literal["multistep", "cosine", "constant"] = "multistep"
    """multistep: lr x gamma at each milestone (the paper); cosine: cosine decay to zero; constant."""
    milestones: Milestones = (0.5, 0.75)
    """multistep: fractions of training at which the lr is multiplied by gamma (32k and 48k of 64k iterations)."""
    gamma: Annotated[float, Strict(), Field(gt=0.0, le=1.0)] = 0.1
    """multistep: the factor applied at each milestone."""
    warmup_epochs: Annotated[int, Strict(), Field(ge=0, le=MAX_EPOCHS)] = 0
    """Epochs of linear warm-up from warmup_lr to lr (ResNet-110 warms up at 0.01)."""
    warmup_lr: Annotated[float, Strict(), Field(ge=0.0, le=100.0)] = 0.01
    """Learning rate at the start of warm-up."""
    label_smoothing: Annotated[float, Strict(), Field(ge=0.0, lt=1.0)] = 0.0
    """Label smoothing of the cross-entropy loss."""
    mixed_precision: Bool = True
    """bf16 autocast on GPUs (ignored on CPU)."""
    channels_last: Bool = True
    """channels_last memory format on GPUs (ignored on CPU)."""
    compile: Annotated[CompileMode, BeforeValidator(_compile_mode)] = "off"
    """torch.compile the model: "off", "default", "reduce-overhead" (replays CUDA graphs of the forward and
    backward passes) or "max-autotune"; true and false mean "default" and "off"."""
    cuda_graphs: Bool = True
    """On a CUDA GPU, capture each whole training step (augmentation, forward, backward, optimiser step) as one
    CUDA graph and replay it, where the run allows: one process, data held on the GPU, no torch.compile, sgd,
    nesterov or adamw. Otherwise, or when capture fails, steps run eagerly with a one-line note. Ignored on CPU."""
    augment: Annotated[AugmentKind, BeforeValidator(_augment_kind, json_schema_input_type=AugmentKind | bool)] = \
        "cifar"
    """How training images are augmented. cifar: the paper's CIFAR-10 augmentation, zero padding of 4 pixels per 32,
    a random crop back and a horizontal flip (He et al. 2016, Sec. 4.2); scale: the paper's ImageNet augmentation,
    the shorter side resized to a random length in `scale`, a random input.size crop and a flip (Sec. 3.4, after
    Simonyan & Zisserman 2015); random-resized-crop: torchvision's, a random part of the image (`crop_area`,
    `crop_ratio`) resized to input.size, and a flip (Szegedy et al. 2015); none. true and false mean cifar and none."""
    scale: LengthRange = (256, 480)
    """augment = "scale": the shorter side is resized to a length drawn uniformly from this range, both ends included,
    before the input.size crop (He et al. 2016, Sec. 3.4: [256, 480] for 224 crops)."""
    crop_area: FractionRange = (0.08, 1.0)
    """augment = "random-resized-crop": the part of the image's area a crop covers, drawn uniformly (torchvision's
    RandomResizedCrop: 0.08 to 1)."""
    crop_ratio: RatioRange = (3 / 4, 4 / 3)
    """augment = "random-resized-crop": the crop's width over its height, drawn log-uniformly (torchvision's
    RandomResizedCrop: 3/4 to 4/3)."""
    lighting: Annotated[float, Strict(), Field(ge=0.0, le=10.0)] = 0.0
    """The standard deviation of the PCA colour noise of Krizhevsky et al. 2012 (Sec. 4.1), "the standard color
    augmentation" of He et al. 2016 (Sec. 3.4): each training image's RGB values are shifted by eigvec x (alpha *
    eigval), alpha ~ N(0, lighting^2) drawn per image, with ImageNet's eigenvalues and eigenvectors (on the 0..1
    scale) as fb.resnet.torch publishes them; 0.1 there; 0: none. RGB images only."""
    eval_resize: Length | None = None
    """Validation images: the shorter side is resized to this before the input.size crop (256 for 224, as
    torchvision's and fb.resnet.torch's ImageNet evaluation); default: input.size, the whole image."""
    eval_crop: EvalCrop = "center"
    """Validation crops: center, one input.size crop from the middle; ten, the 4 corner crops and the centre crop
    and their mirror images, the network's 10 softmax outputs averaged (Krizhevsky et al. 2012; the 10-crop testing
    of He et al. 2016, Sec. 3.4), batch_size / 10 images per batch."""
    data: Annotated[str, Strict(), Field(min_length=1, max_length=4096)] = "digits"
    """What to train on: digits, cifar10:DIR, imagefolder:DIR, stream:DIR, wds:TRAIN,val=VAL or
    synthetic[:CxHxW,...] (`--data` overrides)."""
    seed: Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)] = 0
    """Seed of initialisation, data order and augmentation: a run folder's spec retrains identically
    (`--seed` overrides)."""
    workers: Annotated[int, Strict(), Field(ge=0, le=256)] | None = None
    """Processes that read and decode streamed data (stream:, wds:, and imagefolder: past 8 GiB); 0 decodes in the
    training process. Default: this process's share of the CPUs, at most 8."""
    init: Annotated[str, Strict(), Field(min_length=1, max_length=4096)] = RANDOM_INIT
    """The weights training starts from: "random" (He et al. 2015's initialisation, as the papers), or a weights
    file to fine-tune: safetensors (a run's weights.safetensors) or a torchvision/timm state dict, read with
    torch.load(weights_only=True) so no pickled code runs. Another number of classes gets a new classifier.
    `--init` overrides; the run records the file's sha256 (write "./random" for a file named random)."""
    frozen_stages: Annotated[int, Strict(), Field(ge=0, le=MAX_STAGES + 1)] = 0
    """Keep the first N parts as they start, BN statistics included: 1 freezes the stem, 2 the stem and the first
    stage, and so on (fine-tuning only what follows)."""
    backbone_lr: Annotated[float, Strict(), Field(gt=0.0, le=1.0)] = 1.0
    """The learning rate of the stem and stages, as a fraction of lr (the classifier keeps lr): a pretrained
    backbone is fine-tuned more gently than a new head."""


class NetSpec(_Frozen):
    """A residual (or plain) convolutional network: input, stem, stages of blocks, head, and its training recipe."""

    name: Annotated[str, Strict(), Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    """Short name: letters, digits, '_', '-', '.' (run folders are named after it)."""
    description: Annotated[str, Strict(), Field(max_length=2000)] = ""
    """One or two sentences for people."""
    reference: PaperNet | None = None  # type: ignore[valid-type]
    """A published network this spec reproduces; `archgen build` prints its numbers beside archgen's."""
    depth: Annotated[int, Strict(), Field(ge=1, le=10_000)] | None = None
    """Declared depth in weighted layers (e.g. 56), checked against the body: 2 + 2 x blocks (basic)
    or 2 + 3 x blocks (bottleneck), i.e. 6n+2 or 9n+2 on CIFAR."""
    input: Input
    """Image channels and size, and the number of classes."""
    stem: Stem
    """The layers before the first stage."""
    body: Body
    """Stages of blocks."""
    head: Head = Head()
    """Global pooling, dropout and classifier."""
    train: Train = Train()
    """The training recipe `archgen train` follows."""
    search: SearchSpace | None = None
    """A search spec: which fields `archgen search` varies, its objectives and budgets (absent in a plain spec)."""
