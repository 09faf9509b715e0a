"""Training memory known before training: parameters, gradients, optimiser state, the activations autograd keeps
for backward, the batch and the allocator's and framework's share, in bytes, from the plan alone. Imports no torch.

Each layer kind, and each way a block adds its shortcut (He et al. 2016b's scales and gates too), keeps what torch's
autograd keeps for the backward: equal to the byte to what `torch.autograd.graph.saved_tensors_hooks` sees for every
shipped spec (tests/analysis/test_footprint.py). A tensor two layers keep (a ReLU's output, read by the next conv and
the shortcut) is counted once. Against a process's measured peak: bench/memory_estimate.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from archgen.analysis.complexity import analyze
from archgen.plan import BlockPlan, Layer, LayerKind, NetworkPlan, plan
from archgen.spec.schema import NetSpec

Precision = Literal["float32", "bf16"]
DeviceKind = Literal["cpu", "cuda"]

# Copies of the parameters each optimiser keeps: momentum (torch.optim.SGD); exp_avg, exp_avg_sq (AdamW, timm's Lamb)
OPTIMIZER_COPIES: dict[str, int] = {"sgd": 1, "nesterov": 1, "adamw": 2, "lamb": 2}

# Bytes of what is kept, by kind: activations in the precision's dtype (under bf16 autocast the convs' outputs, hence
# BN's and ReLU's, are bf16); pooling's argmax indices int64; the loss's log-softmax float32 in either precision.
Kind = Literal["activation", "int64", "float32"]
_WIDTHS: dict[Precision, dict[Kind, int]] = {
    "float32": {"activation": 4, "int64": 8, "float32": 4},
    "bf16": {"activation": 2, "int64": 8, "float32": 4},
}
FLOAT32, INT64, BF16 = 4, 8, 2

BACKWARD_COPIES = 1
"""Backward's transient gradients beyond the estimate's other parts, in copies of the largest activation: the
gradients of activations are made and freed layer by layer while the kept activations are freed, and the parameters'
gradients are counted whole though the first layers' are written last (torch's profiler: the live peak stays within
this, bench/memory_estimate.md)."""

MMAP_THRESHOLD = 32 * 2**20
"""glibc's largest dynamic mmap threshold on 64-bit Linux (DEFAULT_MMAP_THRESHOLD_MAX): blocks at least this big are
mapped on their own and unmapped when freed; smaller ones come from malloc's heap, which keeps freed memory."""

ALLOCATOR_SHARE: dict[DeviceKind, float] = {"cpu": 0.5, "cuda": 0.0}
"""What the allocator holds beyond the live tensors at the peak, as a share of the kept activations it serves from its
heap (those under MMAP_THRESHOLD). CPU: glibc's heap, fragmented by the backward's gradients, which are larger than
the late layers' freed activations and so cannot reuse their room; measured 0.04-0.81 (median 0.5) on 13 nets and
batches after 12 steps, one configuration moving by up to 0.3 between runs (bench/memory_estimate.md): the estimate's
least certain part. CUDA: 0, as max_memory_allocated counts; the caching allocator's reserve beyond it is not
counted (not measured: no GPU was lent)."""

FRAMEWORK_BYTES = 24 * 2**20
"""Besides tensors: oneDNN's generated kernels and primitive caches, the autograd engine's and OpenMP's threads,
malloc's own records; measured -25 to +26 MiB on CPU with malloc's retention turned off (torch 2.14,
bench/memory_estimate.md). On a GPU the CUDA context is not counted: it is taken before free memory is read."""


@dataclass(frozen=True)
class Footprint:
    """Bytes one process needs to train a network at one batch size; `total` is what must fit on the device."""

    batch_size: int
    """Images per process."""
    precision: Precision
    device: DeviceKind
    optimizer: str
    params: int
    """Parameters and BN running statistics, float32: what the built network holds before its first step."""
    grads: int
    """A float32 gradient per parameter."""
    optimizer_state: int
    """The optimiser's copies of the parameters (OPTIMIZER_COPIES)."""
    activations: int
    """What autograd keeps from the forward pass for the backward, over the batch (under bf16 autocast also its bf16
    copies of the images and of the conv and linear weights)."""
    batch: int
    """The batch's float32 images and int64 labels."""
    workspace: int
    """Backward's transient gradients (BACKWARD_COPIES of the largest activation)."""
    allocator: int
    """Memory the allocator holds beyond the live tensors at the peak (ALLOCATOR_SHARE)."""
    framework: int
    """FRAMEWORK_BYTES."""
    graph_pool: int = 0
    """With the step captured as one CUDA graph: the graph's private memory pool keeps one step's activations,
    workspace and batch for the whole run, while the eager short last batch and the evaluation allocate theirs again
    from the ordinary pool: a second copy of those three parts (the gradients are the graph's in both)."""

    @property
    def total(self) -> int:
        return (self.params + self.grads + self.optimizer_state + self.activations + self.batch + self.workspace
                + self.allocator + self.framework + self.graph_pool)


def footprint(spec: NetSpec, *, batch_size: int, precision: Precision = "float32", device: DeviceKind = "cpu",
              optimizer: str | None = None, graphs: bool = False) -> Footprint:
    """The peak memory of an eager training step of `spec` at `batch_size` images per process, as archgen trains:
    in-place ReLUs and residual additions, gradients set to None between steps; the optimiser is the recipe's.
    graphs: the step captured as one CUDA graph (CUDA only), whose pool holds a step's memory for good (`graph_pool`).

    The peak comes early in the backward pass, when nearly every activation is still kept and most gradients (late
    layers hold most of the parameters) are written: both are counted whole.
    """
    optimizer = optimizer or spec.train.optimizer
    if optimizer not in OPTIMIZER_COPIES:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_COPIES)}, got {optimizer!r}")
    network, params = plan(spec), analyze(spec).params
    kept, image = _kept(network), _elements(network.input_shape)
    widths = _WIDTHS[precision]
    activations = kept.bytes(batch_size, widths) + kept.batch_statistics * FLOAT32
    if precision == "bf16":  # autocast's bf16 copies of the images and of conv and linear weights, kept by each
        activations += batch_size * image * BF16 + kept.cast_weights * BF16
    if graphs and device != "cuda":
        raise ValueError("graphs=True is a CUDA estimate: CUDA graphs are captured on CUDA devices only")
    batch = batch_size * (image * FLOAT32 + INT64)
    workspace = BACKWARD_COPIES * batch_size * kept.largest * widths["activation"]
    return Footprint(
        batch_size=batch_size, precision=precision, device=device, optimizer=optimizer,
        params=(params + kept.statistics) * FLOAT32, grads=params * FLOAT32,
        optimizer_state=OPTIMIZER_COPIES[optimizer] * params * FLOAT32, activations=activations, batch=batch,
        workspace=workspace,
        allocator=round(ALLOCATOR_SHARE[device] * kept.bytes(batch_size, widths, below=MMAP_THRESHOLD)),
        framework=FRAMEWORK_BYTES, graph_pool=activations + workspace + batch if graphs else 0,
    )


def largest_batch(spec: NetSpec, room: int, *, precision: Precision = "float32", device: DeviceKind = "cpu",
                  limit: int = 65536, graphs: bool = False) -> int:
    """The largest power of two, at most `limit`, whose footprint fits in `room` bytes; 0 if not even 1 does."""
    best, size = 0, 1
    while size <= limit and footprint(spec, batch_size=size, precision=precision, device=device,
                                      graphs=graphs).total <= room:
        best, size = size, size * 2
    return best


# --- what each layer kind keeps ----------------------------------------------------------------------------------


class _Value:
    """One tensor of the forward pass (elements per image) and whether some layer keeps it already."""

    __slots__ = ("elements", "kept")

    def __init__(self, elements: int, *, kept: bool = False) -> None:
        self.elements, self.kept = elements, kept


@dataclass
class _Kept:
    """What autograd keeps: tensors per image, counted by (elements, kind); and per network, the batch's BN statistics,
    the running statistics, and the conv and linear weights autocast copies. `largest`: the largest activation."""

    tensors: Counter[tuple[int, Kind]] = field(default_factory=Counter)
    batch_statistics: int = 0
    statistics: int = 0
    cast_weights: int = 0
    largest: int = 0

    def keep(self, value: _Value) -> _Value:
        """`value` kept for the backward (counted once, whoever else keeps it)."""
        if not value.kept:
            value.kept = True
            self.tensors[value.elements, "activation"] += 1
        return value

    def bytes(self, batch_size: int, widths: dict[Kind, int], *, below: int | None = None) -> int:
        """Bytes of the kept tensors over a batch (only those smaller than `below` bytes, if given)."""
        sizes = ((batch_size * elements * widths[kind], count) for (elements, kind), count in self.tensors.items())
        return sum(size * count for size, count in sizes if below is None or size < below)


def _conv(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    kept.keep(x)  # the weight's gradient needs the input (the weight is a parameter: counted there)
    kept.cast_weights += layer.out_channels * (layer.in_channels // layer.groups) * layer.kernel**2
    return _Value(layer.out_size)


def _bn(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    kept.keep(x)  # its input, and the batch's mean and inverse std per channel (save_mean, save_invstd)
    kept.batch_statistics += 2 * layer.out_channels
    kept.statistics += 2 * layer.out_channels  # running mean and var: buffers beside gamma and beta
    return _Value(layer.out_size)


def _relu(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    return kept.keep(x)  # in place: its output is its input's memory, kept for its gradient's mask


def _relu_copy(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    return kept.keep(_Value(layer.out_size))  # not in place (x is read again): a new output, kept


def _maxpool(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    kept.keep(x)
    kept.tensors[layer.out_size, "int64"] += 1  # the argmax of each window
    return _Value(layer.out_size)


def _global_avgpool(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    return _Value(layer.out_size)  # a mean over space: its gradient needs only the shape


def _dropout(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    """nn.Dropout's scaled mask, in x's dtype on CPU (a bool on CUDA: less); the shortcut's 0/1 mask, x's dtype."""
    kept.tensors[x.elements, "activation"] += 1
    return _Value(layer.out_size)


def _gate(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    """sigmoid(1x1 conv(x) + b): the conv keeps x, the sigmoid its output."""
    _conv(kept, layer, x)
    return kept.keep(_Value(layer.out_size))


def _fc(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    kept.keep(x)
    kept.cast_weights += layer.in_channels * layer.out_channels
    return _Value(layer.out_size)


def _view(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    return x  # flatten, identity: the same memory


def _pad(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    return _Value(layer.out_size)  # a strided view, zero-padded: its gradient is a slice, nothing kept


def _other(kept: _Kept, layer: Layer, x: _Value) -> _Value:
    """A kind not described here yet: counted as keeping its input and its output (more than any kind above)."""
    kept.keep(x)
    return kept.keep(_Value(layer.out_size))


# The layer kinds the plan names and what autograd keeps from each (tests/analysis/test_footprint.py holds every
# shipped spec to torch; a kind missing here is counted by `_other`).
_KEEPS: dict[LayerKind, Callable[[_Kept, Layer, _Value], _Value]] = {
    "conv": _conv, "bn": _bn, "relu": _relu, "maxpool": _maxpool, "global_avgpool": _global_avgpool,
    "global_maxpool": _maxpool, "flatten": _view, "dropout": _dropout, "fc": _fc, "identity": _view, "pad": _pad,
    "gate": _gate, "shortcut_dropout": _dropout,
}


def _kept(network: NetworkPlan) -> _Kept:
    kept = _Kept()
    x = _Value(_elements(network.input_shape), kept=True)  # the images: the batch's, counted there
    x = _run(kept, network.stem.layers, x)
    for stage in network.stages:
        for block in stage.blocks:
            x = _block(kept, block, x)
    logits = _run(kept, network.head.layers, x)
    kept.tensors[logits.elements, "float32"] += 1  # the loss's log-softmax output, float32 even under autocast
    return kept


def _block(kept: _Kept, block: BlockPlan, x: _Value) -> _Value:
    """after(add(branch(before(x)), shortcut(x or before(x)))), as `archgen.compile.blocks` computes it."""
    # a ReLU-only pre-activation reads x, which the shortcut needs again: not in place
    copying = block.kind == "pre" and all(layer.kind != "bn" for layer in block.before)
    before = _run(kept, block.before, x, relu=_relu_copy if copying else _relu)
    f = _run(kept, block.branch, before)
    if block.shortcut is None:
        return _run(kept, block.after, f)
    h = _run(kept, block.shortcut, before if block.shortcut_input == "before" else x)
    return _run(kept, block.after, _add(kept, block, f, h, x))


def _add(kept: _Kept, block: BlockPlan, f: _Value, h: _Value, x: _Value) -> _Value:
    """F(x) + h(x) and He et al. 2016b's variants: what each product keeps (an addition keeps nothing)."""
    if block.gate is not None:
        g = _gate(kept, block.gate, x)  # kept by its sigmoid
        if block.gating == "exclusive":
            kept.keep(f)  # g * F keeps both factors
        kept.keep(_Value(g.elements))  # (1 - g) * h keeps both factors: 1 - g a new tensor
        kept.keep(h)
        return _Value(f.elements)
    if block.branch_scale != 1 or block.shortcut_scale != 1:
        return _Value(f.elements)  # products with constants keep nothing
    # in place into F's output unless F ends in a ReLU, whose backward needs that output
    return _Value(f.elements) if block.branch[-1].kind == "relu" else f


def _run(kept: _Kept, layers: Iterable[Layer], x: _Value, *,
         relu: Callable[[_Kept, Layer, _Value], _Value] = _relu) -> _Value:
    for layer in layers:
        kept.largest = max(kept.largest, layer.out_size)
        x = (relu if layer.kind == "relu" else _KEEPS.get(layer.kind, _other))(kept, layer, x)
    return x


def _elements(shape: tuple[int, int, int]) -> int:
    channels, height, width = shape
    return channels * height * width
