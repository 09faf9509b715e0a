"""A trained point's plain twin (`[search] plain_twin = true`): the same layers without shortcuts, trained for the same
epochs from the same seed after the point, its final errors recorded on the point's trial, so the report can say
whether the plain net degrades where the residual one does not (He et al. 2016, Fig. 4 and 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archgen.errors import SpecError
from archgen.search import results
from archgen.spec.families import plain_counterpart
from archgen.spec.schema import RANDOM_INIT, NetSpec


def twin_spec(spec: NetSpec) -> NetSpec | str:
    """The plain counterpart of the trial's spec, from random weights as the point itself would start; or why none."""
    started = spec.model_copy(update={"train": spec.train.model_copy(update={"init": RANDOM_INIT})})
    try:
        return plain_counterpart(started)
    except SpecError as error:
        return f"no plain twin: {error.problems[0].message}"


@dataclass
class LastEpoch:
    """What a twin's training is heard for: its last epoch. Every other call of a pipeline Listener is ignored (a
    twin is not pruned, shown, or logged to TensorBoard)."""

    metrics: Any = None

    def on_epoch(self, metrics: Any) -> None:
        self.metrics = metrics

    def __getattr__(self, name: str) -> Callable[..., None]:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return _ignored


def _ignored(*_: Any) -> None:
    return None


def twin_attributes(trainer: Callable[..., Any], spec: NetSpec, *, device: str) -> dict[str, Any]:
    """Train the plain twin of `spec`; the trial attributes that record its final errors, or why it has none."""
    twin = twin_spec(spec)
    if isinstance(twin, str):
        return {results.PLAIN_REASON: twin}
    heard = LastEpoch()
    trainer(twin, device=device, listener=heard)
    if heard.metrics is None:
        return {results.PLAIN_REASON: "the plain twin's trainer reported no epoch"}
    return {results.PLAIN_TRAIN_ERROR: float(heard.metrics.train_error),
            results.PLAIN_VAL_ERROR: float(heard.metrics.val_error)}
