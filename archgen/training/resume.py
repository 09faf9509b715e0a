"""Start or resume: a new run folder checked writable before training, or a resumed one whose checkpoint is trusted
only after the checks here: the data it was promised (counts, classes, the files), the run's spec.toml unedited
since the checkpoint was written, and the checkpoint's tensors fitting the network and optimiser built now (each
refusal a RunError naming the change). Either way, where training stands: epochs done, step, totals so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from archgen.errors import RunError, printable
from archgen.spec import read_spec
from archgen.training.engine import Engine
from archgen.training.events import EpochMetrics
from archgen.training.folder import RunFolder
from archgen.training.meter import EpochTotals
from archgen.training.preprocessing import PREPROCESSING, recorded
from archgen.training.pretrained import INIT
from archgen.training.record import DATA, SPEC, VERSION
from archgen.training.setup import Setup
from archgen.training.state import TrainState, restore

SHOWN = 4  # changes or tensors named in one message; the rest are counted


@dataclass(frozen=True)
class Start:
    """Where a run starts: its folder (rank 0 of a run that keeps one), the epochs done and the step and totals of
    the epoch in progress, and what the start noticed (damaged checkpoints skipped)."""

    folder: RunFolder | None
    history: tuple[EpochMetrics, ...] = ()
    epoch: int = 0
    """0-based epoch to continue (epochs done)."""
    step: int = 0
    """Steps of that epoch done."""
    totals: EpochTotals = field(default_factory=EpochTotals)
    notes: tuple[str, ...] = ()


def start_or_resume(setup: Setup, *, out: Path | None, resume: RunFolder | None) -> Start:
    """A new run folder under `out` (or none: a search trial), or `resume`'s newest good checkpoint put back into the
    engine (weights, optimiser, schedule, RNGs), each checked against what trains now before anything is written."""
    if resume is None:
        return Start(_created(setup, out) if out is not None and setup.processes.main else None)
    state, notes = _trusted_state(setup, resume)
    if setup.processes.main:  # fail before training if the folder cannot take the files
        resume.check_writable()
        resume.check_space(checkpoint_bytes(setup.engine))
    folder = resume if setup.processes.main else None
    if state is None:
        return Start(folder, notes=notes)
    restore(setup.engine, state)
    totals = EpochTotals(**vars(state.totals)) if setup.processes.main else EpochTotals()  # saved summed already
    return Start(folder, state.history, state.epoch, state.step, totals, notes)


def _created(setup: Setup, out: Path) -> RunFolder:
    """A new run folder with the spec, the data's record, the preprocessing record and the starting weights'
    record, checked for room."""
    spec, data = setup.spec, setup.fitted.data
    folder = RunFolder.create(out, spec.name)
    folder.write_spec(spec, header=f"The spec and recipe of run {folder.path.name}, resolved by archgen {VERSION}.\n"
                                   "Retrain as is: archgen train spec.toml")
    folder.write_json(DATA, data.record())
    # what turns a raw image into this network's input, for everything that uses the trained net
    folder.write_json(PREPROCESSING, recorded(spec, data, mean=setup.loaders.mean, std=setup.loaders.std).document())
    if setup.initial is not None:
        folder.write_json(INIT, setup.initial.record())  # where the weights came from, with their sha256
    folder.check_space(checkpoint_bytes(setup.engine))
    return folder


def _trusted_state(setup: Setup, resume: RunFolder) -> tuple[TrainState | None, tuple[str, ...]]:
    """The newest good checkpoint's state (None: stopped before the first), checked against what trains now."""
    resume.check_unfinished()
    check_same_data(resume, setup.fitted.data.record())
    loaded = resume.latest_checkpoint()
    notes = tuple(f"skipped damaged checkpoint {problem}" for problem in loaded.skipped)
    if loaded.state is None and loaded.skipped:  # never silently start over on top of damaged checkpoints
        raise RunError(f"no good checkpoint to resume {resume.path} from: {'; '.join(loaded.skipped)} "
                       "(move the checkpoints folder away to train the run again from the start)")
    if loaded.state is None:
        resume.check_nothing_recorded()  # starting over must never cut finished epochs away
        return None, (*notes, "no checkpoint yet (stopped before the first one): starting from the beginning")
    assert loaded.path is not None
    check_unedited(resume.spec_path(), loaded.path)
    check_fits(loaded.state, setup.engine, loaded.path)
    return loaded.state, notes


def checkpoint_bytes(engine: Engine) -> int:
    """About one checkpoint: weights and buffers, plus the optimiser's per-parameter state (<= 2 copies)."""
    weights = sum(t.numel() * t.element_size() for t in engine.module.state_dict().values())
    return 3 * weights + 65536


def check_same_data(folder: RunFolder, record: dict[str, Any]) -> None:
    """Refuse a resume on other data than the run began with: other counts, classes or files (names and sizes).

    A run resumed on fewer images would continue "at step 6 of 2"; on other classes its classifier would not fit.
    """
    recorded = folder.data_record()
    if recorded is None:
        return  # a run from before data.json
    changes = [f"{key} {_shown(recorded.get(key))} -> {_shown(value)}" for key, value in record.items()
               if key != "source" and recorded.get(key) != value]
    if changes:
        raise RunError(f"the data of {printable(str(folder.path))} changed since the run began ({DATA}): "
                       f"{listed(changes)}; a resume continues on the data it began with (restore it, or train "
                       f"{SPEC} as a new run)")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} names]" if len(value) > SHOWN else printable(repr(value))
    return printable(f"{value:,}" if isinstance(value, int) else repr(value))


def check_unedited(spec_file: Path, checkpoint: Path) -> None:
    """Refuse a resume whose spec.toml differs from the copy the checkpoint holds (older checkpoints hold none).

    A resume continues the recorded run bitwise; a changed recipe or network would silently mix two runs
    (the optimiser and schedule state come from the checkpoint), so an edited spec trains as a new run.
    """
    saved = checkpoint / SPEC
    if not saved.is_file():
        return
    # the language only: two copies of one run's spec are compared, not judged (training checks the size)
    changes = spec_changes(_flat(read_spec(saved).model_dump(mode="json")),
                           _flat(read_spec(spec_file).model_dump(mode="json")))
    if changes:
        raise RunError(f"{spec_file} was edited after checkpoint {checkpoint.name}: {listed(changes)}; a resume "
                       f"continues the run as it began (undo the edit), or train the edited spec as a new run: "
                       f"archgen train {spec_file}")


def check_fits(state: TrainState, engine: Engine, checkpoint: Path) -> None:
    """Refuse a checkpoint whose weights or optimiser do not fit what the spec builds now."""
    problems = weight_problems(state.weights, engine.module)
    saved_groups, groups = state.optimizer.get("param_groups", []), engine.optimizer.state_dict()["param_groups"]
    if not problems and [sorted(g) for g in saved_groups] != [sorted(g) for g in groups]:
        problems = [f"its optimiser state is not {type(engine.optimizer).__name__}'s"]
    if problems:
        raise RunError(f"checkpoint {checkpoint} does not fit the network its spec.toml builds: {listed(problems)} "
                       "(was spec.toml edited?)")


def spec_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """`field: old -> new` for every dotted field that differs."""
    fields = sorted(set(before) | set(after))
    return [f"{field} {before.get(field)!r} -> {after.get(field)!r}" for field in fields
            if before.get(field) != after.get(field)]


def weight_problems(saved: dict[str, Any], module: nn.Module) -> list[str]:
    """Every tensor missing from `saved`, unexpected in it, of another shape than `module`'s, or integer where the
    network's is floating point (or the reverse), which loading would cast silently."""
    state = module.state_dict()
    expected = {name: tuple(tensor.shape) for name, tensor in state.items()}
    actual = {name: tuple(tensor.shape) for name, tensor in saved.items()}
    return [
        *(f"{name} missing" for name in expected if name not in actual),
        *(f"{name} unexpected" for name in actual if name not in expected),
        *(f"{name} is {actual[name]} saved, {shape} in the network"
          for name, shape in expected.items() if name in actual and actual[name] != shape),
        *(f"{name} is {saved[name].dtype} saved, {tensor.dtype} in the network" for name, tensor in state.items()
          if name in saved and saved[name].is_floating_point() != tensor.is_floating_point()),
    ]


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more
