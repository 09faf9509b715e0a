"""Speed of archgen's compiled nets against the identical torchvision nets, in one process.

Forward (eval, no grad) and training step (forward, cross-entropy, backward, SGD step) of each pair,
timed in interleaved repeats (A B, B A, A B, …) so load from other processes hits both alike. Printed:
the median time per side, and the ratio archgen / reference as the median of the per-repeat ratios of
back-to-back steps (1.00 = same speed, > 1 = archgen slower), with its interquartile range.
torchvision has no CIFAR ResNet, so resnet20/56 are compared with a hand-written one in
torchvision's BasicBlock style with the paper's option-A shortcut (as akamaster/pytorch_resnet_cifar10).

    python bench/compiled_vs_torchvision.py                        # CPU, under 3 minutes on 2 idle cores
    python bench/compiled_vs_torchvision.py --device cuda --batch 128 --size 224 --repeats 30

OMP_WAIT_POLICY defaults to PASSIVE here: on a machine whose cores other processes also use, OpenMP
threads spinning at barriers made a 2-thread ResNet-50 forward 20x slower (2.6 s vs 0.1 s) for
torchvision and archgen alike. Set OMP_WAIT_POLICY=ACTIVE to measure the spinning default.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

import archgen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import Paired, alternate


class CifarBasicBlock(nn.Module):
    """torchvision's BasicBlock with option A: subsample and zero-pad the identity where the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.extra = stride, planes - in_planes

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.stride != 1 or self.extra:
            identity = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
        out += identity
        return self.relu(out)


class CifarResNet(nn.Module):
    """He et al. 2016, Sec. 4.2: 3x3 conv, three stages of n blocks at 16/32/64 filters, pool, fc."""

    def __init__(self, n: int, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            layers.append(CifarBasicBlock(in_planes, planes, stride))
            layers += [CifarBasicBlock(planes, planes, 1) for _ in range(n - 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@dataclass(frozen=True)
class Pair:
    name: str
    spec: str
    reference: Callable[[], nn.Module]
    cifar: bool


PAIRS = {
    "resnet18": Pair("resnet18", "resnet18", lambda: torchvision.models.resnet18(), cifar=False),
    "resnet50": Pair("resnet50", "resnet50-v1.5", lambda: torchvision.models.resnet50(), cifar=False),
    "resnet20": Pair("resnet20", "resnet20", lambda: CifarResNet(3), cifar=True),
    "resnet56": Pair("resnet56", "resnet56", lambda: CifarResNet(9), cifar=True),
}


def timed(step: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def forward_step(model: nn.Module, x: Tensor) -> Callable[[], object]:
    def step() -> object:
        with torch.no_grad():
            return model(x)

    return step


def train_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], object]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> object:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def interleaved(
    ours: Callable[[], object], reference: Callable[[], object], *, warmup: int, repeats: int, device: torch.device
) -> Paired:
    """Seconds per step of both sides in turns (archgen first, reference second), after untimed warm-up steps."""
    for _ in range(warmup):
        ours(), reference()
    return alternate(lambda _: timed(ours, device), lambda _: timed(reference, device), repeats=repeats)


def build_pair(pair: Pair, device: torch.device) -> tuple[nn.Module, nn.Module, float | None]:
    """Both nets on `device`; ImageNet pairs share weights (converted), and their max output difference."""
    torch.manual_seed(0)
    reference = pair.reference()
    ours = archgen.build_model(archgen.load_spec(pair.spec))
    if pair.cifar:
        return ours.to(device), reference.to(device), None
    ours.load_state_dict(archgen.convert_state_dict(reference.state_dict()), strict=True)
    ours, reference = ours.to(device).eval(), reference.to(device).eval()
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64, device=device)
        diff = float((ours(x) - reference(x)).abs().max())
    return ours, reference, diff


@dataclass(frozen=True)
class Row:
    """One net and one kind of step: seconds per step of both sides and their paired ratio."""

    net: str
    step: str
    batch: int
    size: int
    timing: Paired
    output_difference: float | None
    """Largest output difference of the weight-sharing ImageNet pairs (None for CIFAR nets)."""


@dataclass(frozen=True)
class Comparison:
    rows: tuple[Row, ...]
    threads: int
    repeats: int

    @property
    def ratio_range(self) -> tuple[float, float]:
        """Lowest and highest median ratio archgen / reference over all rows (time ratio: > 1 = archgen slower)."""
        ratios = [row.timing.ratio for row in self.rows]
        return min(ratios), max(ratios)

    @property
    def iqr_range(self) -> tuple[float, float]:
        """The widest interquartile range of any row: the measurement's noise on this machine."""
        return min(row.timing.ratio_iqr[0] for row in self.rows), max(row.timing.ratio_iqr[1] for row in self.rows)


def bench_pair(
    pair: Pair, *, batch: int, size: int, repeats: int, warmup: int, device: torch.device
) -> list[Row]:
    ours, reference, diff = build_pair(pair, device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10 if pair.cifar else 1000, (batch,), device=device)
    rows = []
    for kind in ("forward", "train step"):
        for model in (ours, reference):
            model.train(kind == "train step")
        make = (lambda m: forward_step(m, x)) if kind == "forward" else (lambda m: train_step(m, x, y))
        timing = interleaved(make(ours), make(reference), warmup=warmup, repeats=repeats, device=device)
        rows.append(Row(pair.name, kind, batch, size, timing, diff if kind == "forward" else None))
    return rows


def measure(
    *,
    nets: Sequence[str] = tuple(PAIRS),
    batch: int = 8,
    size: int = 112,
    cifar_batch: int = 64,
    repeats: int = 15,
    warmup: int = 2,
    device: str = "cpu",
    on_row: Callable[[Row], object] | None = None,
) -> Comparison:
    """Every net's forward and training step against its reference; `on_row` sees each row as it is measured."""
    rows: list[Row] = []
    for name in nets:
        pair = PAIRS[name]
        for row in bench_pair(pair, batch=cifar_batch if pair.cifar else batch, size=32 if pair.cifar else size,
                              repeats=repeats, warmup=warmup, device=torch.device(device)):
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return Comparison(tuple(rows), threads=torch.get_num_threads(), repeats=repeats)


def format_row(row: Row) -> str:
    low, high = row.timing.ratio_iqr
    return (
        f"{row.net:<9} {row.step:<10} {row.batch:>5} {row.size:>4}  {row.timing.first * 1e3:>10.1f} "
        f"{row.timing.second * 1e3:>10.1f}  {row.timing.ratio:>5.2f}  {low:.2f}-{high:.2f}"
        + ("" if row.output_difference is None else f"   outputs differ by {row.output_difference:.1e}")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", nargs="+", choices=sorted(PAIRS), default=list(PAIRS))
    parser.add_argument("--batch", type=int, default=8, help="ImageNet nets' batch (default 8)")
    parser.add_argument("--size", type=int, default=112, help="ImageNet nets' input size (default 112)")
    parser.add_argument("--cifar-batch", type=int, default=64, help="CIFAR nets' batch at 32x32 (default 64)")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per side (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first (default 2)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {args.device}, "
          f"{torch.get_num_threads()} threads (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}), "
          f"median of {args.repeats} interleaved repeats")
    print(f"{'net':<9} {'step':<10} {'batch':>5} {'size':>4}  {'archgen ms':>10} {'ref ms':>10}  {'ratio':>5}  IQR")
    measure(nets=args.nets, batch=args.batch, size=args.size, cifar_batch=args.cifar_batch, repeats=args.repeats,
            warmup=args.warmup, device=args.device, on_row=lambda row: print(format_row(row), flush=True))


if __name__ == "__main__":
    main()
