"""Budgets of a search space, checked before any trial runs: is there a point within max_params, max_macs and
max_activations?

A spec check (`SPEC_CHECKS`): exact analysis of the space's corners, no torch, no Optuna.
"""

from __future__ import annotations

from dataclasses import dataclass

from archgen.analysis.complexity import Complexity, analyze
from archgen.spec.rules import RuleViolation
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import corner_points, valid_points
from archgen.spec.search_space import SearchSpace


@dataclass(frozen=True)
class BudgetCheck:
    """Whether a network fits a space's budgets, and if not, the first budget it breaks."""

    fits: bool
    field: str = ""
    reason: str = ""


def check_budget(space: SearchSpace, cost: Complexity) -> BudgetCheck:
    """`cost` against `space.max_params`, `space.max_macs` and `space.max_activations`."""
    if space.max_params is not None and cost.params > space.max_params:
        return BudgetCheck(False, "max_params", f"{cost.params:,} params > max_params {space.max_params:,}")
    if space.max_macs is not None and cost.macs > space.max_macs:
        return BudgetCheck(False, "max_macs", f"{cost.macs:,} MACs > max_macs {space.max_macs:,}")
    if space.max_activations is not None and cost.acts > space.max_activations:
        return BudgetCheck(False, "max_activations",
                           f"{cost.acts:,} activations > max_activations {space.max_activations:,}")
    return BudgetCheck(True)


def budget_check(spec: NetSpec) -> list[RuleViolation]:
    """A spec check: refuse a space whose every point breaks a budget (evaluated on its corners).

    Depth and width only add cost, so the cheapest point is a combination of range ends and choices;
    when there are more such corners than `corner_points` enumerates, nothing is claimed.
    """
    space = spec.search
    if space is None or (space.max_params is None and space.max_macs is None and space.max_activations is None):
        return []
    points, complete = corner_points(space)
    if not complete:
        return []
    cheapest: Complexity | None = None
    for point in valid_points(spec, points):
        if isinstance(point, str):
            continue
        cost = analyze(point)
        if check_budget(space, cost).fits:
            return []  # the usual case, found at the first corners: no need to make the others
        cheapest = min(filter(None, (cheapest, cost)), key=lambda cost: (cost.params, cost.macs, cost.acts))
    if cheapest is None:
        return []
    verdict = check_budget(space, cheapest)
    return [
        (
            ("search", verdict.field),
            (
                f"every point of the space breaks this budget; the cheapest has {verdict.reason} "
                f"(lower the ranges' low ends or raise the budget)"
            ),
        )
    ]
