"""A deeper network grown from a trained shallower one: the "solution by construction" of He et al. 2016 (Sec. 1).

The blocks at the shallow net's positions copy its weights, the stem and head too; every extra block starts as the
identity (its branch's last BN, or last conv in a pre-activation block, at zero, so F(x) = 0 and the block is
x). The grown net then computes exactly what the trained shallow one does: checked on the whole training split
before anything is written, then written as a run folder whose first checkpoint (epoch 0) holds it, so
`archgen train --resume` trains it on like any run. Nets where an added block cannot be the identity are
refused in one line: plain nets, other stems or widths, projections in every block (option C), and shortcuts
scaled, gated or followed by BN (the rules that refuse `zero_init_residual` there say which).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import nn

from archgen.compile import Network, build_model
from archgen.compile.blocks import zero_init_last
from archgen.data import load_data, make_loaders
from archgen.degradation import family
from archgen.errors import RunError, printable
from archgen.files import sha256_of, write_atomic
from archgen.spec import rules
from archgen.spec.schema import NetSpec
from archgen.training.checkpoints import WEIGHTS_LIMIT
from archgen.training.engine import build_engine
from archgen.training.fitting import fit_to_data, with_recipe
from archgen.training.folder import RunFolder
from archgen.training.meter import EpochTotals
from archgen.training.record import DATA, WEIGHTS
from archgen.training.state import capture
from archgen.training.trained import load_trained

ORIGIN = "grown.json"  # what a grown run was grown from, beside its spec.toml
TOLERANCE = 1e-5  # largest |grown - shallow| logit difference accepted, relative to the logits' scale


@dataclass(frozen=True)
class Grown:
    """A grown run folder and what its check measured."""

    folder: Path
    copied: int
    """Blocks whose weights came from the shallow run."""
    added: int
    """Blocks that start as the identity."""
    images: int
    train_error: float
    """The shallow net's and the grown net's error on the training split (eval mode, no augmentation): one number."""
    max_difference: float


def grow(run: Path, deeper: NetSpec, *, out: Path) -> Grown:
    """Grow the finished run `run` into `deeper` (trained on `run`'s data with `deeper`'s recipe) under `out`."""
    folder = RunFolder.open(run)
    shallow = folder.spec()
    if not (run / WEIGHTS).exists():
        raise RunError(f"{printable(str(run))} is not finished (no {WEIGHTS}): grow from a finished run")
    fitted = fit_to_data(with_recipe(deeper, data=shallow.train.data),
                         load_data(shallow.train.data, size=shallow.input.size, seed=deeper.train.seed))
    _check_growable(shallow, fitted.spec, run)
    grown = grown_module(shallow, run / WEIGHTS, fitted.spec)
    trained, model, copied, added = grown.trained, grown.model, grown.copied, grown.added
    loader = make_loaders(fitted.data, batch_size=256, augment=False, seed=0, device=torch.device("cpu")).train
    error, difference = _same_outputs(trained, model.eval(), loader.batches(0), run)
    created = RunFolder.create(out, fitted.spec.name)
    created.write_spec(fitted.spec, header=f"Grown from {run.name} by `archgen grow`: {copied} blocks copied, "
                                           f"{added} added as the identity.\nTrain on: archgen train --resume .")
    created.write_json(DATA, fitted.data.record())
    recipe = fitted.spec.train  # the schedule counts the steps training will take, at the recipe's batch
    steps = len(make_loaders(fitted.data, batch_size=recipe.batch_size, augment=False, seed=0,
                               device=torch.device("cpu")).train)
    engine = build_engine(model.train(), recipe, device="cpu", steps_per_epoch=steps)
    created.save_checkpoint(capture(engine, epoch=0, step=0, totals=EpochTotals(), history=()))
    write_atomic(created.path / ORIGIN, (json.dumps({
        "from": str(run.resolve()), "weights_sha256": sha256_of(run / WEIGHTS, WEIGHTS_LIMIT),
        "blocks_copied": copied, "blocks_added": added, "training_images_checked": len(fitted.data.train),
        "training_error_by_construction": error, "max_logit_difference": difference,
    }, indent=1) + "\n").encode())
    return Grown(created.path, copied, added, len(fitted.data.train), error, difference)


@dataclass(frozen=True)
class GrownModule:
    """The trained shallow net, the deeper net grown from it, and how many blocks each part holds."""

    trained: nn.Module
    model: nn.Module
    copied: int
    added: int


def grown_module(shallow: NetSpec, weights: Path, deeper: NetSpec) -> GrownModule:
    """`shallow` loaded with `weights`, and `deeper` (fitted to the same data, `obstacle(shallow, deeper)` None)
    starting as it. `archgen grow` and a search's `grow = true` both build the grown net here."""
    trained = load_trained(shallow, weights)
    model, copied, added = _grown(deeper, trained, shallow)
    return GrownModule(trained, model, copied, added)


def _check_growable(shallow: NetSpec, deeper: NetSpec, run: Path) -> None:
    """One line saying why `deeper` cannot start as `shallow` plus identity blocks, if it cannot."""
    reason = obstacle(shallow, deeper)
    if reason is not None:
        raise RunError(f"cannot grow {printable(str(run))} ({shallow.name}) into {deeper.name}: {reason}")


def obstacle(shallow: NetSpec, deeper: NetSpec) -> str | None:
    """Why `deeper` cannot start as `shallow` plus identity blocks, or None when it can."""
    if not (shallow.body.residual and deeper.body.residual):
        return "a plain net has no identity to start its extra blocks at (residual = false)"
    if shallow.stem != deeper.stem:
        return f"the stems differ ({shallow.stem.kind} {shallow.stem.width} vs {deeper.stem.kind} {deeper.stem.width})"
    widths = [(s.width, s.stride) for s in shallow.body.resolved_stages()]
    if widths != [(s.width, s.stride) for s in deeper.body.resolved_stages()]:
        return "the stages' widths or strides differ: only depth may grow"
    if family(shallow) != family(deeper):
        return "the blocks differ in more than depth (kind, shortcut option, head or input)"
    depths = [s.depth for s in shallow.body.resolved_stages()], [s.depth for s in deeper.body.resolved_stages()]
    if any(a > b for a, b in zip(*depths, strict=True)) or depths[0] == depths[1]:
        return f"it is not deeper: blocks per stage {depths[0]} -> {depths[1]}"
    if deeper.body.shortcut == "C":
        return "every block's shortcut is a projection (option C): an added block cannot start as the identity"
    identity = deeper.model_copy(update={"body": deeper.body.model_copy(update={"zero_init_residual": True})})
    violations = rules.check(identity)
    return None if not violations else f"a zero residual branch is no identity here ({violations[0][1]})"


def _grown(deeper: NetSpec, trained: nn.Module, shallow: NetSpec) -> tuple[nn.Module, int, int]:
    """The deeper net with the trained one's weights where blocks match, every other block the identity."""
    model = build_model(deeper)
    weights = trained.state_dict()
    kept = {name: tensor for name, tensor in weights.items() if name in model.state_dict()}
    model.load_state_dict(kept, strict=False)
    stages = zip(shallow.body.resolved_stages(), cast(Network, model).stages, strict=True)
    copied, added = 0, 0
    for stage, blocks in stages:
        copied += stage.depth
        for block in cast(nn.Sequential, blocks)[stage.depth:]:
            zero_init_last(block)  # F(x) = 0 from the start: the block is the identity
            added += 1
    return model, copied, added


@torch.no_grad()
def _same_outputs(trained: nn.Module, grown: nn.Module, batches: object, run: Path) -> tuple[float, float]:
    """(the shared training error, the largest logit difference) over the training split; refused beyond TOLERANCE."""
    wrong, seen, worst, scale = 0, 0, 0.0, 1.0
    for images, labels in batches:  # type: ignore[attr-defined]
        expected, actual = trained.eval()(images), grown(images)
        worst = max(worst, float((expected - actual).abs().max()))
        scale = max(scale, float(expected.abs().max()))
        wrong += int((expected.argmax(1) != labels).sum())
        seen += len(labels)
    if not worst <= TOLERANCE * scale:
        raise RunError(f"the net grown from {printable(str(run))} computes other outputs than it (by {worst:.3g}, "
                       f"tolerance {TOLERANCE * scale:.3g}): nothing written")
    return wrong / max(seen, 1), worst
