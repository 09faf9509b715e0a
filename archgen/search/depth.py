"""Depth, the axis the ResNet papers argue about, in a search: deeper trials grown from shallower ones
(`[search] grow = true`), each point's plain twin (`[search] plain_twin = true`), and the degradation verdicts among
a study's trials (He et al. 2016, Sec. 1, Fig. 4 and 6).

- Growing: each trained trial's weights and spec are kept in the study folder's trials/trial-N/ (owned by the study
  through the folder's manifest), and a deeper trial starts as the most accurate complete trial it can grow from,
  its blocks copied and every extra block the identity (`archgen.training.grow`, the paper's solution by
  construction).
- Twins: the same layers without shortcuts, trained for the same epochs from the same seed after the point, their
  final errors recorded on the point's trial.
- Verdicts: each complete trial against each shallower one of its family, and each point against its plain twin,
  judged by `archgen.degradation` on the final errors; read from trial rows, never from Optuna.

Runs in the workers that train: torch and what needs it (growing, weights) are imported inside the functions, never by
the search's parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import optuna

from archgen.degradation import Pair, Trained, Unjudged, pairs, unjudged, verdict
from archgen.errors import SpecError
from archgen.search.outputs import owned, write_outputs
from archgen.search.record import GROWN_FROM, PLAIN_REASON, PLAIN_TRAIN_ERROR, PLAIN_VAL_ERROR
from archgen.search.space import trial_spec
from archgen.spec.families import plain_counterpart
from archgen.spec.loader import read_spec
from archgen.spec.schema import RANDOM_INIT, NetSpec
from archgen.spec.search_points import PathError
from archgen.spec.writer import dump_spec
from archgen.training import EpochMetrics, Listener

if TYPE_CHECKING:
    from torch import nn

    from archgen.search.study import Trainer


# --- growing ---------------------------------------------------------------------------------------------------------

TRIALS = "trials"  # in the study folder: trial-N/ for every trained trial of a search that grows
WEIGHTS = "weights.safetensors"  # a trial's final weights
SPEC = "spec.toml"  # the spec they fit: as it trained, fitted to the data
GROWN = "grown.safetensors"  # a grown trial's starting weights, named by its train.init


def trial_folder(out: Path, number: int) -> Path:
    return out / TRIALS / f"trial-{number}"


@dataclass(frozen=True)
class Kept:
    """A study's kept trials: trials/trial-N/ in its study folder, every file owned through the folder's manifest
    (`outputs`): written only where no other study's file is (or with `force`), read back only if this study wrote
    it, unchanged since."""

    out: Path
    study: str
    force: bool = False

    def keep(self, number: int, model: nn.Module, spec: NetSpec) -> None:
        """Write trial `number`'s trained weights and the fitted spec they were built from, each atomically."""
        header = f"The spec this trial trained, fitted to its data; its weights are {WEIGHTS} beside it."
        self._write(number, {SPEC: dump_spec(spec, header=header).encode(), WEIGHTS: _safetensors(model)})

    def source(self, number: int) -> Source | None:
        """Trial `number`'s kept spec and weights, if this study kept them here, unchanged."""
        names = (_name(number, SPEC), _name(number, WEIGHTS))
        if not owned(self.out, names, study=self.study):
            return None  # trained before grow was on, on another machine, or kept by another study
        return Source(number, read_spec(self.out / names[0]), self.out / names[1])

    def start_grown(self, number: int, spec: NetSpec, source: Source) -> NetSpec:
        """`spec`, trial `number`, starting from `source`'s net grown to its depth: the grown weights kept in its
        folder, named by the returned spec's train.init (which `archgen.training.train` loads before the first
        step)."""
        from archgen.training.grow import grown_module  # torch: workers only

        grown = grown_module(source.spec, source.weights, fitted_like(spec, source.spec))
        [path] = self._write(number, {GROWN: _safetensors(grown.model)})
        return spec.model_copy(update={"train": spec.train.model_copy(update={"init": str(path.absolute())})})

    def _write(self, number: int, files: dict[str, bytes]) -> list[Path]:
        named = {_name(number, file): data for file, data in files.items()}
        return write_outputs(self.out, named, study=self.study, force=self.force)


def _name(number: int, file: str) -> str:
    return f"{TRIALS}/trial-{number}/{file}"


@dataclass(frozen=True)
class Source:
    """A complete trial a deeper one grows from: its number, its fitted spec, and its kept weights."""

    number: int
    spec: NetSpec
    weights: Path


def growth_source(ranked: Sequence[int], spec: NetSpec, kept: Kept) -> Source | None:
    """The first of the complete trials `ranked` (most accurate first) whose net `spec` can start as (plus identity
    blocks), among those `kept` holds, or None."""
    from archgen.training.grow import obstacle  # torch: workers only

    for number in ranked:
        source = kept.source(number)
        if source is not None and obstacle(source.spec, fitted_like(spec, source.spec)) is None:
            return source
    return None


def grown_start(ranked: Sequence[int], trial: optuna.Trial, spec: NetSpec, kept: Kept) -> NetSpec:
    """`spec` grown from the most accurate complete trial of `ranked` it can grow from (recorded on `trial` as
    grown_from), or `spec` as it is when there is none."""
    source = growth_source(ranked, spec, kept)
    if source is None:
        return spec
    trial.set_user_attr(GROWN_FROM, source.number)
    return kept.start_grown(trial.number, spec, source)


def fitted_like(spec: NetSpec, fitted: NetSpec) -> NetSpec:
    """`spec` as the trainer will fit it: a search's trials share their base's input and data, and fitting changes
    only the input (`archgen.training.fitting`), so it takes the fitted trial's."""
    return spec.model_copy(update={"input": fitted.input, "reference": None})


def _safetensors(model: nn.Module) -> bytes:
    from safetensors.torch import save

    return save({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()})


# --- plain twins ----------------------------------------------------------------------------------------------------


def twin_spec(spec: NetSpec) -> NetSpec | str:
    """The plain counterpart of the trial's spec, from random weights as the point itself would start; or why none."""
    started = spec.model_copy(update={"train": spec.train.model_copy(update={"init": RANDOM_INIT})})
    try:
        return plain_counterpart(started)
    except SpecError as error:
        return f"no plain twin: {error.problems[0].message}"


class LastEpoch(Listener):
    """What a twin's training is heard for: its last epoch. Every other event is the Listener's, ignored (a twin is
    not pruned, shown, or logged to TensorBoard)."""

    def __init__(self) -> None:
        self.metrics: EpochMetrics | None = None

    def on_epoch(self, metrics: EpochMetrics) -> None:
        self.metrics = metrics


def twin_attributes(trainer: Trainer, spec: NetSpec, *, device: str) -> dict[str, str | float]:
    """Train the plain twin of `spec`; the trial attributes that record its final errors, or why it has none."""
    twin = twin_spec(spec)
    if isinstance(twin, str):
        return {PLAIN_REASON: twin}
    heard = LastEpoch()
    trainer(twin, device=device, listener=heard)
    if heard.metrics is None:
        return {PLAIN_REASON: "the plain twin's trainer reported no epoch"}
    return {PLAIN_TRAIN_ERROR: float(heard.metrics.train_error),
            PLAIN_VAL_ERROR: float(heard.metrics.val_error)}


# --- the verdicts ---------------------------------------------------------------------------------------------------


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
    @property
    def repeats(self) -> tuple[dict[str, float], ...]: ...


@dataclass(frozen=True)
class Degradation:
    """The verdicts, each with the numbers that decided it."""

    depth: tuple[Pair, ...] = ()
    """Each deeper complete trial (first) against each shallower one of its family (second)."""
    twins: tuple[Pair, ...] = ()
    """Each point's plain twin (first) against the point (second): "degrades" when the plain net's training error is
    higher beyond noise, the paper's degradation at equal depth."""
    unjudged: tuple[Unjudged, ...] = ()
    """Deeper and shallower trials of one family that trained differently (`archgen.degradation.trained_differently`),
    with why they have no verdict."""


def degradation(base: NetSpec, rows: Sequence[Measured]) -> Degradation:
    """The verdicts among the complete rows of a search on `base` that recorded their final errors' image counts."""
    measured = [(row, _trained(base, row)) for row in sorted(rows, key=lambda r: r.number)]
    trained = [(row, found) for row, found in measured if found is not None]
    twins = []
    for row, found in trained:
        if row.plain_train_error is not None and row.plain_val_error is not None and found.spec.body.residual:
            plain = _plain_twin(row, found)
            twins.append(Pair(plain, found, verdict(plain, found)))
    judged = [found for _, found in trained]  # only those that trained alike: `archgen.degradation`'s one rule
    return Degradation(tuple(pairs(judged)), tuple(twins), tuple(unjudged(judged)))


def _trained(base: NetSpec, row: Measured) -> Trained | None:
    if row.outcome != "complete" or not row.history or row.images is None:
        return None
    try:
        spec = trial_spec(base, row.point, number=row.number, seed=row.seed or 0)
    except (SpecError, PathError):  # a point the base no longer makes: nothing to judge it as
        return None
    grown = f" (grown from {row.grown_from})" if row.grown_from is not None else ""
    last = row.history[-1]
    seeds = [(float(seed["train_error"]), float(seed["val_error"])) for seed in row.repeats] or \
        [(float(last["train_error"]), float(last["val_error"]))]
    return Trained.over_seeds(f"trial {row.number}{grown}", spec, seeds, images=row.images)


def _plain_twin(row: Measured, point: Trained) -> Trained:
    """The point's plain twin as the verdicts read it: from each seed it trained from, where each recorded one
    (`[search] repeats`); the same data, so the same image counts."""
    label, images = f"trial {row.number} plain", (point.train_images, point.val_images)
    seeds = [(seed["plain_train_error"], seed["plain_val_error"]) for seed in row.repeats if "plain_val_error" in seed]
    if len(seeds) > 1 and len(seeds) == len(row.repeats):
        return Trained.over_seeds(label, point.spec, seeds, images=images)
    assert row.plain_train_error is not None and row.plain_val_error is not None
    return Trained(label, point.spec, row.plain_train_error, row.plain_val_error, *images)
