"""Degradation found automatically: each deeper network against each shallower one of the same family, judged as
He et al. 2016 (Sec. 4.1) reads its Fig. 4 and 6.

- "degrades": the deeper net has higher *training* error, so it fails to optimise (it is not over-fitting);
- "over-fits": its training error is no higher, but its validation error is higher;
- "improves": neither is higher, and one is lower; "same": neither differs beyond noise.

A difference counts only beyond two standard errors of the two measured error rates (binomial, on the images
each was measured on), so one image of 360 does not decide. A family is every spec field but the depths (and
the names, the recipe and the search): plain and residual nets are different families, as in the paper.
Plain numbers in, verdicts out: torch-free, no files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from archgen.spec.schema import NetSpec

Verdict = Literal["degrades", "over-fits", "improves", "same"]
Z = 2.0  # standard errors a difference must exceed to count


@dataclass(frozen=True)
class Trained:
    """One trained network as the verdicts read it: its spec, its final errors and the images they were measured on."""

    label: str
    spec: NetSpec
    train_error: float
    val_error: float
    train_images: int
    val_images: int


@dataclass(frozen=True)
class Pair:
    """A deeper net against a shallower one of its family, the verdict, and the numbers that decided it."""

    deeper: Trained
    shallower: Trained
    verdict: Verdict

    @property
    def reason(self) -> str:
        train = _difference(self.deeper.train_error, self.shallower.train_error, "training")
        val = _difference(self.deeper.val_error, self.shallower.val_error, "validation")
        return f"{train}; {val}"


def pairs(trained: Sequence[Trained]) -> list[Pair]:
    """Every deeper-vs-shallower pair within each family, deeper nets in the order given."""
    found = []
    for deeper in trained:
        for shallower in trained:
            if shallower is not deeper and family(shallower.spec) == family(deeper.spec) and \
                    blocks(shallower.spec) < blocks(deeper.spec):
                found.append(Pair(deeper, shallower, verdict(deeper, shallower)))
    return found


def verdict(deeper: Trained, shallower: Trained) -> Verdict:
    train = _compared(deeper.train_error, deeper.train_images, shallower.train_error, shallower.train_images)
    val = _compared(deeper.val_error, deeper.val_images, shallower.val_error, shallower.val_images)
    if train > 0:
        return "degrades"
    if val > 0:
        return "over-fits"
    return "improves" if train < 0 or val < 0 else "same"


def family(spec: NetSpec) -> Any:
    """What must be equal for two nets to differ only in depth: every field but names, recipe, search and depths."""
    data = spec.model_dump(mode="json", exclude={"name", "description", "reference", "depth", "train", "search"})
    body = data["body"]
    body.pop("depths", None)
    for stage in body.get("stages") or ():
        stage.pop("depth")
    return repr(data)


def blocks(spec: NetSpec) -> int:
    return sum(stage.depth for stage in spec.body.resolved_stages())


def _compared(first: float, first_count: int, second: float, second_count: int) -> int:
    """1 if `first` is higher beyond noise, -1 if lower, 0 within Z standard errors of the difference."""
    variance = sum(p * (1 - p) / max(n, 1) for p, n in ((first, first_count), (second, second_count)))
    noise = Z * math.sqrt(variance) if variance > 0 else 0.0
    difference = first - second
    return 0 if abs(difference) <= noise else (1 if difference > 0 else -1)


def _difference(deeper: float, shallower: float, what: str) -> str:
    return f"{what} error {deeper:.2%} vs {shallower:.2%}"
