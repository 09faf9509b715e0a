"""Residual blocks as torch modules, built from the plan's blocks: post- and pre-activation.

A block is a branch F and, in a residual net, a shortcut: the paper's F(x) + x is one line of
`forward`, and a plain net is the same block without it. Knows nothing of specs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from archgen.compile.layers import build_layer, modules, sequential
from archgen.plan import BlockKind, BlockPlan


class Block(nn.Module):
    """Post-activation block (He et al. 2016): relu(F(x) + shortcut(x)), or relu(F(x)) in a plain net."""

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module | None, relu: nn.Module) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.shortcut is not None:
            out += self.shortcut(x)  # F(x) + x, in place as torchvision: one activation fewer per block
        return self.relu(out)

    def last_layer(self) -> nn.BatchNorm2d:
        """The layer that zero-init silences so the block starts as the identity: the branch's last BN."""
        last = self.branch[-1]
        assert isinstance(last, nn.BatchNorm2d)
        return last


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016b): F(bn-relu(x)) + x, leaving the identity path clean.

    A projection shortcut takes the normalised input, as in the paper's code; an identity takes x itself.
    """

    def __init__(
        self, bn: nn.Module, relu: nn.Module, branch: nn.Sequential, shortcut: nn.Module | None, *,
        project_normalised: bool,
    ) -> None:
        super().__init__()
        self.bn = bn
        self.relu = relu  # in place on bn(x), a new tensor: x survives for the shortcut
        self.branch = branch
        self.shortcut = shortcut
        self.project_normalised = project_normalised

    def forward(self, x: Tensor) -> Tensor:
        normalised = self.relu(self.bn(x))
        out = self.branch(normalised)
        if self.shortcut is not None:
            out += self.shortcut(normalised if self.project_normalised else x)  # F(x) + x
        return out

    def last_layer(self) -> nn.Conv2d:
        """The branch's last conv: no BN follows it in a pre-activation branch."""
        last = self.branch[-1]
        assert isinstance(last, nn.Conv2d)
        return last


def build_block(block: BlockPlan) -> nn.Module:
    """The block the plan describes, each layer under the name the plan gives it."""
    return _BLOCKS[block.kind](block)


def _post_activation(block: BlockPlan) -> Block:
    return Block(sequential(block.branch, "branch."), _shortcut(block), **modules(block.after))


def _pre_activation(block: BlockPlan) -> PreActBlock:
    return PreActBlock(
        **modules(block.before), branch=sequential(block.branch, "branch."), shortcut=_shortcut(block),
        project_normalised=block.shortcut_input == "before",
    )


def _shortcut(block: BlockPlan) -> nn.Module | None:
    """None (plain), the one module named "shortcut" (identity, option A's padding), or a Sequential (projection)."""
    if block.shortcut is None:
        return None
    if len(block.shortcut) == 1 and block.shortcut[0].name == "shortcut":
        return build_layer(block.shortcut[0])
    return sequential(block.shortcut, "shortcut.")


# Each kind of block the plan names and the module it becomes.
_BLOCKS: dict[BlockKind, Callable[[BlockPlan], nn.Module]] = {"post": _post_activation, "pre": _pre_activation}


@torch.no_grad()
def zero_init_last(block: nn.Module) -> None:
    """Zero the branch's last BN (or conv, pre-activation) so the block starts as the identity (Goyal et al. 2017)."""
    if isinstance(block, (Block, PreActBlock)) and block.shortcut is not None:
        nn.init.zeros_(block.last_layer().weight)
