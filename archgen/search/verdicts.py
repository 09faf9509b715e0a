"""A study's degradation verdicts (He et al. 2016, Sec. 4.1): each complete trial against each shallower one of its
family, and each residual point against its plain twin, judged by `archgen.degradation` on the final errors.

Reads trial rows (anything with a row's fields), never Optuna; values for `archgen.report` to render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from archgen.degradation import Pair, Trained, pairs, verdict
from archgen.errors import SpecError
from archgen.search.space import trial_spec
from archgen.spec.schema import NetSpec
from archgen.spec.search_points import PathError


class Measured(Protocol):
    """What the verdicts read of a trial (`results.TrialRow`)."""

    @property
    def number(self) -> int: ...
    @property
    def outcome(self) -> str: ...
    @property
    def point(self) -> dict[str, Any]: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def history(self) -> tuple[dict[str, float], ...]: ...
    @property
    def images(self) -> tuple[int, int] | None: ...
    @property
    def grown_from(self) -> int | None: ...
    @property
    def plain_train_error(self) -> float | None: ...
    @property
    def plain_val_error(self) -> float | None: ...


@dataclass(frozen=True)
class Degradation:
    """The verdicts, each with the numbers that decided it."""

    depth: tuple[Pair, ...] = ()
    """Each deeper complete trial (first) against each shallower one of its family (second)."""
    twins: tuple[Pair, ...] = ()
    """Each point's plain twin (first) against the point (second): "degrades" when the plain net's training error is
    higher beyond noise, the paper's degradation at equal depth."""


def degradation(base: NetSpec, rows: Sequence[Measured]) -> Degradation:
    """The verdicts among the complete rows of a search on `base` that recorded their final errors' image counts."""
    measured = [(row, _trained(base, row)) for row in sorted(rows, key=lambda r: r.number)]
    trained = [(row, found) for row, found in measured if found is not None]
    twins = []
    for row, found in trained:
        if row.plain_train_error is not None and row.plain_val_error is not None and found.spec.body.residual:
            plain = Trained(f"trial {row.number} plain", found.spec, row.plain_train_error, row.plain_val_error,
                            found.train_images, found.val_images)  # same data, so the same image counts
            twins.append(Pair(plain, found, verdict(plain, found)))
    return Degradation(tuple(pairs([found for _, found in trained])), tuple(twins))


def _trained(base: NetSpec, row: Measured) -> Trained | None:
    if row.outcome != "complete" or not row.history or row.images is None:
        return None
    try:
        spec = trial_spec(base, row.point, number=row.number, seed=row.seed or 0)
    except (SpecError, PathError):  # a point the base no longer makes: nothing to judge it as
        return None
    grown = f" (grown from {row.grown_from})" if row.grown_from is not None else ""
    last = row.history[-1]
    return Trained(f"trial {row.number}{grown}", spec, float(last["train_error"]), float(last["val_error"]),
                   *row.images)
