"""Residual blocks as torch modules, built from the plan's blocks: post- and pre-activation.

A block is a branch F and, in a residual net, a shortcut: the paper's F(x) + x is one line of
`forward`, and a plain net is the same block without it. He et al. 2016b's ablations are spelt out where
they act: the placements of BN and ReLU in each block's `forward`, the scales and gates in `add_shortcut`.
Knows nothing of specs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from archgen.compile.layers import build_layer, modules, sequential
from archgen.plan import BlockKind, BlockPlan


class _Residual:
    """How F(x) and the shortcut h(x) are added, as He et al. 2016b's Table 1 varies it (mixed into both blocks)."""

    if TYPE_CHECKING:  # set by each block's __init__; TorchScript cannot read postponed (string) class annotations
        branch: nn.Sequential
        gate: nn.Module | None
        exclusive: bool
        branch_scale: float
        shortcut_scale: float
        in_place: bool
        """Whether F(x) may take the sum in place: not when F ends in a ReLU (Fig. 4c), whose backward needs its
        output."""

    def add_shortcut(self, f: Tensor, h: Tensor, x: Tensor) -> Tensor:
        """F(x) + h(x); with a gate g(x) = sigmoid(W_g x + b_g) read from x, or constant scales (Fig. 2)."""
        if self.gate is not None:
            g = self.gate(x)
            if self.exclusive:
                return g * f + (1 - g) * h  # exclusive gating (Fig. 2c): F scaled by g(x), the shortcut by 1 - g(x)
            return f + (1 - g) * h  # shortcut-only gating (Fig. 2d)
        if self.branch_scale != 1 or self.shortcut_scale != 1:
            return self.branch_scale * f + self.shortcut_scale * h  # constant scaling (Fig. 2b; Eq. 6's lambda x)
        return f.add_(h) if self.in_place else f + h  # in place as torchvision: one activation fewer per block

    def last_layer(self) -> nn.BatchNorm2d | nn.Conv2d:
        """The layer zero-init silences so F starts at 0: the branch's last BN or conv (a ReLU after it keeps 0)."""
        last = next(layer for layer in reversed(self.branch) if not isinstance(layer, nn.ReLU))
        assert isinstance(last, nn.BatchNorm2d | nn.Conv2d)
        return last

    def extra_repr(self) -> str:
        """The scales and the kind of gating, where they are not the plain F(x) + h(x)."""
        parts = [] if self.gate is None else ["exclusive gating" if self.exclusive else "shortcut-only gating"]
        parts += [f"{name}={value}" for name, value in (("branch_scale", self.branch_scale),
                                                         ("shortcut_scale", self.shortcut_scale)) if value != 1]
        return ", ".join(parts)


class Block(_Residual, nn.Module):
    """Post-activation block (He et al. 2016): relu(F(x) + h(x)), or relu(F(x)) in a plain net.

    He et al. 2016b's other post-activation placements: BN after the addition, relu(bn(F(x) + h(x))) (Fig. 4b),
    and the ReLU before it, relu(F(x)) + h(x), the ReLU ending F (Fig. 4c).
    """

    def __init__(
        self, branch: nn.Sequential, shortcut: nn.Module | None, *, gate: nn.Module | None = None,
        bn: nn.Module | None = None, relu: nn.Module | None = None, exclusive: bool = False,
        branch_scale: float = 1.0, shortcut_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.gate = gate
        self.bn = bn
        self.relu = relu
        self.exclusive, self.branch_scale, self.shortcut_scale = exclusive, branch_scale, shortcut_scale
        self.in_place = not isinstance(branch[-1], nn.ReLU)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out = self.add_shortcut(out, self.shortcut(x), x)  # F(x) + x
        if self.bn is not None:
            out = self.bn(out)  # BN after the addition (Fig. 4b)
        return out if self.relu is None else self.relu(out)


class PreActBlock(_Residual, nn.Module):
    """Pre-activation block (He et al. 2016b): F(relu(bn(x))) + x (Fig. 4e), or with the ReLU alone,
    F(relu(x)) + x (Fig. 4d); either way nothing acts on the identity path or the sum.

    A projection shortcut takes the pre-activated input, as in the paper's code; an identity takes x itself.
    """

    def __init__(
        self, *, relu: nn.Module, branch: nn.Sequential, shortcut: nn.Module | None, project_normalised: bool,
        bn: nn.Module | None = None, gate: nn.Module | None = None, exclusive: bool = False,
        branch_scale: float = 1.0, shortcut_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.bn = bn
        self.relu = relu  # in place only on bn(x), a new tensor: x survives for the shortcut
        self.branch = branch
        self.shortcut = shortcut
        self.gate = gate
        self.project_normalised = project_normalised
        self.exclusive, self.branch_scale, self.shortcut_scale = exclusive, branch_scale, shortcut_scale
        self.in_place = True  # a pre-activation F ends in a conv, whose backward does not need its output

    def forward(self, x: Tensor) -> Tensor:
        normalised = self.relu(x if self.bn is None else self.bn(x))
        out = self.branch(normalised)
        if self.shortcut is not None:
            out = self.add_shortcut(out, self.shortcut(normalised if self.project_normalised else x), x)  # F(x) + x
        return out


def build_block(block: BlockPlan) -> nn.Module:
    """The block the plan describes, each layer under the name the plan gives it."""
    return _BLOCKS[block.kind](block)


def _post_activation(block: BlockPlan) -> Block:
    after = modules(block.after)
    return Block(
        sequential(block.branch, "branch."), _shortcut(block), gate=_gate(block), bn=after.get("bn"),
        relu=after.get("relu"), exclusive=block.gating == "exclusive", branch_scale=block.branch_scale,
        shortcut_scale=block.shortcut_scale,
    )


def _pre_activation(block: BlockPlan) -> PreActBlock:
    before = modules(block.before)
    # ReLU-only pre-activation reads x itself, which the shortcut still needs: not in place
    relu = before["relu"] if "bn" in before else nn.ReLU()
    return PreActBlock(
        bn=before.get("bn"), relu=relu, branch=sequential(block.branch, "branch."), shortcut=_shortcut(block),
        project_normalised=block.shortcut_input == "before", gate=_gate(block),
        exclusive=block.gating == "exclusive", branch_scale=block.branch_scale, shortcut_scale=block.shortcut_scale,
    )


def _shortcut(block: BlockPlan) -> nn.Module | None:
    """None (plain), the one module named "shortcut" (identity, option A's padding, dropout), or a Sequential."""
    if block.shortcut is None:
        return None
    if len(block.shortcut) == 1 and block.shortcut[0].name == "shortcut":
        return build_layer(block.shortcut[0])
    return sequential(block.shortcut, "shortcut.")


def _gate(block: BlockPlan) -> nn.Module | None:
    """g(x) of He et al. 2016b's gated shortcuts (Table 1), or None."""
    return None if block.gate is None else build_layer(block.gate)


# Each kind of block the plan names and the module it becomes.
_BLOCKS: dict[BlockKind, Callable[[BlockPlan], nn.Module]] = {"post": _post_activation, "pre": _pre_activation}


@torch.no_grad()
def zero_init_last(block: nn.Module) -> None:
    """Zero the branch's last BN (or conv, full pre-activation) so the block starts as the identity (Goyal et al.
    2017); the spec's rules refuse it where a zero F still leaves no identity (scales, gates, dropout, BN after
    the addition)."""
    if isinstance(block, (Block, PreActBlock)) and block.shortcut is not None:
        nn.init.zeros_(block.last_layer().weight)
