"""Exact analysis of a spec without building it: shapes, params, MACs, activations; and the size limits on them.

Imports no torch: the search's budget filter and `archgen validate` rely on it being instant.
"""

from archgen.analysis.budget import BudgetCheck, budget_check, check_budget
from archgen.analysis.complexity import Complexity, Cost, PartCost, StageCost, analyze, conv_out, layer_cost
from archgen.analysis.footprint import Footprint, footprint
from archgen.analysis.limits import MAX_PARAMS, size_limit_check

# Every check beyond the language's own rules that a spec must pass before anything is built;
# `archgen.load_spec` and `archgen validate` run them all.
SPEC_CHECKS = (size_limit_check, budget_check)

__all__ = [
    "MAX_PARAMS",
    "SPEC_CHECKS",
    "BudgetCheck",
    "Complexity",
    "Cost",
    "Footprint",
    "PartCost",
    "StageCost",
    "analyze",
    "budget_check",
    "check_budget",
    "conv_out",
    "footprint",
    "layer_cost",
    "size_limit_check",
]
