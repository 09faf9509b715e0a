"""What a resume checks before it trusts a checkpoint: the data it was promised (counts, classes, the files), the
run's spec.toml unedited since the checkpoint was written, and the checkpoint's tensors fitting the network and
optimiser built now. Raises RunError naming the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from archgen.errors import RunError, printable
from archgen.spec import read_spec
from archgen.training.engine import Engine
from archgen.training.folder import RunFolder
from archgen.training.record import DATA, SPEC
from archgen.training.state import TrainState

SHOWN = 4  # changes or tensors named in one message; the rest are counted


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
    """Every tensor missing from `saved`, unexpected in it, or of another shape than `module`'s."""
    expected = {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}
    actual = {name: tuple(tensor.shape) for name, tensor in saved.items()}
    return [
        *(f"{name} missing" for name in expected if name not in actual),
        *(f"{name} unexpected" for name in actual if name not in expected),
        *(f"{name} is {actual[name]} saved, {shape} in the network"
          for name, shape in expected.items() if name in actual and actual[name] != shape),
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
