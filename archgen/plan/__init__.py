"""The one description of a network: a spec resolved into its layers, part by part and block by block.

`analysis` counts over the plan and `compile` builds each module from it, so the two cannot drift.
Plain integers and frozen dataclasses; imports no torch and knows nothing of counting or modules.
"""

from archgen.plan.blocks import BlockKind, BlockPlan, ShortcutInput
from archgen.plan.layers import Layer, LayerKind, Shape, conv_out
from archgen.plan.network import NetworkPlan, PartPlan, StagePlan, plan

__all__ = [
    "BlockKind",
    "BlockPlan",
    "Layer",
    "LayerKind",
    "NetworkPlan",
    "PartPlan",
    "Shape",
    "ShortcutInput",
    "StagePlan",
    "conv_out",
    "plan",
]
