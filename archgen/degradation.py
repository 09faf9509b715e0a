"""Degradation found automatically: each deeper network against each shallower one of the same family, trained alike,
judged as He et al. 2016 (Sec. 4.1) reads its Fig. 4 and 6.

- "degrades": the deeper net has higher *training* error, so it fails to optimise (it is not over-fitting);
- "over-fits": its training error is no higher, but its validation error is higher;
- "improves": neither is higher, and one is lower; "same": neither differs beyond noise.

Noise: with at least 2 seeds on each side, a difference counts only where Welch's t-test over the seeds' final errors
rejects equal means at the 5% level (run-to-run variance, the largest part on small data); with fewer, beyond two
standard errors of the two measured error rates (binomial, on the images each was measured on), which leave that
variance out. A family is every spec field but the depths (and the names, the recipe and the search): plain and
residual nets are different families, as in the paper. Two nets of one family are judged only when they trained
alike (`trained_differently`: one rule for `archgen compare` and the search's verdicts); otherwise the pair says why
not. Plain numbers in, verdicts out: torch-free, no files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from archgen.spec.schema import NetSpec
from archgen.statistics import welch

Verdict = Literal["degrades", "over-fits", "improves", "same"]
Z = 2.0  # standard errors a difference must exceed to count (one run a side)
ALPHA = 0.05  # Welch's test's level (seeds on both sides): about the same 95% as two standard errors
MIN_SEEDS = 2  # seeds each side needs for Welch's test
SHOWN_DIFFERENCES = 3


@dataclass(frozen=True)
class Trained:
    """One trained network as the verdicts read it: its spec, its final errors (the seeds' means when `seeds` holds
    several), the images they were measured on, and the epochs it trained (None: as many as its spec says)."""

    label: str
    spec: NetSpec
    train_error: float
    val_error: float
    train_images: int
    val_images: int
    epochs: int | None = None
    seeds: tuple[tuple[float, float], ...] = ()
    """(training, validation) final errors of each seed, when the network trained from several."""

    @classmethod
    def over_seeds(cls, label: str, spec: NetSpec, errors: Sequence[tuple[float, float]], *, images: tuple[int, int],
                   epochs: int | None = None) -> Trained:
        """A network trained from each of several seeds: its errors are their means, and each seed is kept."""
        train = math.fsum(error[0] for error in errors) / len(errors)
        val = math.fsum(error[1] for error in errors) / len(errors)
        return cls(label, spec, train, val, *images, epochs=epochs, seeds=tuple(errors) if len(errors) > 1 else ())


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
        return f"{train}; {val} ({noise_rule(self.deeper, self.shallower)})"


@dataclass(frozen=True)
class Unjudged:
    """A deeper net and a shallower one of its family that trained differently, so depth alone does not explain what
    differs between them: no verdict, and why."""

    deeper: Trained
    shallower: Trained
    reason: str
    fields: tuple[str, ...] = ()
    """What differs, by name: `train.lr`, `epochs trained`."""


def pairs(trained: Sequence[Trained]) -> list[Pair]:
    """Every deeper-vs-shallower pair within each family that trained alike, deeper nets in the order given."""
    return [Pair(deeper, shallower, verdict(deeper, shallower)) for deeper, shallower in _candidates(trained)
            if trained_differently(deeper, shallower) is None]


def unjudged(trained: Sequence[Trained]) -> list[Unjudged]:
    """Every deeper-vs-shallower pair within each family that `pairs` leaves out, with the difference in training."""
    found = []
    for deeper, shallower in _candidates(trained):
        reason = trained_differently(deeper, shallower)
        if reason is not None:
            names = tuple(name for name, _ in _differences(deeper, shallower))
            found.append(Unjudged(deeper, shallower, reason, names))
    return found


def _candidates(trained: Sequence[Trained]) -> Iterator[tuple[Trained, Trained]]:
    for deeper in trained:
        for shallower in trained:
            if shallower is not deeper and family(shallower.spec) == family(deeper.spec) and \
                    blocks(shallower.spec) < blocks(deeper.spec):
                yield deeper, shallower


def trained_differently(first: Trained, second: Trained) -> str | None:
    """Why two nets' errors say nothing of their architectures' difference, or None when they trained alike: the same
    recipe (every train field but the seed, which differs by design, and the starting weights, which a grown net's
    comparison is about) for the same number of epochs. The one rule of `archgen compare` and the search's verdicts:
    a deeper net at another learning rate, or stopped sooner, says nothing of depth."""
    found = [text for _, text in _differences(first, second)]
    if not found:
        return None
    more = f"; and {len(found) - SHOWN_DIFFERENCES} more" if len(found) > SHOWN_DIFFERENCES else ""
    return f"trained differently: {'; '.join(found[:SHOWN_DIFFERENCES])}{more}"


def _differences(first: Trained, second: Trained) -> list[tuple[str, str]]:
    """(name, `name first vs second`) of each way two nets trained differently."""
    found = list(_changes(recipe(first.spec), recipe(second.spec)))
    epochs = (first.epochs or first.spec.train.epochs, second.epochs or second.spec.train.epochs)
    if epochs[0] != epochs[1] and not any(name == "train.epochs" for name, _ in found):
        found.append(("epochs trained", f"epochs trained {epochs[0]} vs {epochs[1]}"))
    return found


def recipe(spec: NetSpec) -> dict[str, Any]:
    """What two nets must share to be compared: the recipe but the seed and the starting weights."""
    return spec.train.model_dump(mode="json", exclude={"seed", "init", "workers"})


def _changes(first: dict[str, Any], second: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in sorted(first):
        if first[key] != second.get(key):
            yield f"train.{key}", f"train.{key} {_value(first[key])} vs {_value(second.get(key))}"


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def verdict(deeper: Trained, shallower: Trained) -> Verdict:
    if len(deeper.seeds) >= MIN_SEEDS and len(shallower.seeds) >= MIN_SEEDS:
        train = _welch([s[0] for s in deeper.seeds], [s[0] for s in shallower.seeds])
        val = _welch([s[1] for s in deeper.seeds], [s[1] for s in shallower.seeds])
    else:
        train = _compared(deeper.train_error, deeper.train_images, shallower.train_error, shallower.train_images)
        val = _compared(deeper.val_error, deeper.val_images, shallower.val_error, shallower.val_images)
    if train > 0:
        return "degrades"
    if val > 0:
        return "over-fits"
    return "improves" if train < 0 or val < 0 else "same"


def noise_rule(deeper: Trained, shallower: Trained) -> str:
    """Which noise rule `verdict` applied to the pair, in words."""
    counts = len(deeper.seeds) or 1, len(shallower.seeds) or 1
    if min(counts) >= MIN_SEEDS:
        return f"Welch's t-test, {counts[0]} and {counts[1]} seeds"
    if max(counts) == 1:
        return "binomial, one run each"
    return f"binomial on the means, {counts[0]} and {counts[1]} seeds"


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


def seed_key(spec: NetSpec) -> str:
    """What runs of one network from different seeds share: the whole spec but its seed (and its name: the run of
    `--seeds` records each)."""
    data = spec.model_dump(mode="json", exclude={"name", "description"})
    data["train"].pop("seed")
    return repr(data)


def _compared(first: float, first_count: int, second: float, second_count: int) -> int:
    """1 if `first` is higher beyond noise, -1 if lower, 0 within Z standard errors of the difference."""
    variance = sum(p * (1 - p) / max(n, 1) for p, n in ((first, first_count), (second, second_count)))
    noise = Z * math.sqrt(variance) if variance > 0 else 0.0
    difference = first - second
    return 0 if abs(difference) <= noise else (1 if difference > 0 else -1)


def _welch(first: Sequence[float], second: Sequence[float]) -> int:
    """1 if `first`'s mean is higher and Welch's test rejects equal means at ALPHA, -1 if lower, else 0."""
    if welch(first, second) >= ALPHA:
        return 0
    return 1 if math.fsum(first) / len(first) > math.fsum(second) / len(second) else -1


def _difference(deeper: float, shallower: float, what: str) -> str:
    return f"{what} error {deeper:.2%} vs {shallower:.2%}"
