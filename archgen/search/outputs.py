"""The files a study writes into its folder: the winners as specs (best.toml, pareto/), and the manifest of what a
search or report of which study wrote there, so that nothing it did not write is ever replaced without `--force`.

Knows file names and bytes; what the winners are comes from `views`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import optuna

from archgen.errors import SearchError, printable
from archgen.files import OutputExists, write_atomic
from archgen.search.record import study_spec
from archgen.search.space import trial_spec
from archgen.search.views import TrialRow
from archgen.spec.schema import NetSpec
from archgen.spec.writer import dump_spec

MANIFEST = ".archgen-written.json"  # in the study folder: what a search or report of which study wrote there


# --- the winners as specs ------------------------------------------------------------------------------------------


def winner_files(study: optuna.Study, best: tuple[TrialRow, ...], *, seed: int = 0) -> dict[str, bytes]:
    """best.toml (the most accurate), and pareto/trial-N.toml for every Pareto point when there are several: each
    the spec its trial trained (its values, seed and epochs), so `archgen train` reproduces the trial."""
    if not best:
        return {}
    base = study_spec(study)
    names = {"best.toml": best[0]}
    if len(best) > 1 or (base.search is not None and len(base.search.objectives) > 1):
        names.update({f"pareto/trial-{r.number}.toml": r for r in best})
    return {name: _winner_toml(name, base, r, seed=seed, study=study.study_name) for name, r in names.items()}


def winner_spec(base: NetSpec, row: TrialRow, *, seed: int) -> NetSpec:
    """The trial's network with the recipe it trained with (its epochs and seed), described."""
    spec = trial_spec(base, row.point, number=row.number, seed=row.seed if row.seed is not None else seed + row.number)
    epochs = f"{row.epochs} epoch{'s' if row.epochs != 1 else ''}"
    accuracy = "" if row.accuracy is None else f" {row.accuracy:.2%} validation accuracy after {epochs},"
    description = f"Trial {row.number} of a search on {base.name}:{accuracy} {row.params or 0:,} params."
    return spec.model_copy(update={"description": description[:2000]})


def _winner_toml(name: str, base: NetSpec, row: TrialRow, *, seed: int, study: str) -> bytes:
    header = (
        f"Found by `archgen search` (study {study!r}, trial {row.number}): {row.architecture}.\n"
        f"Retrain with `archgen train {Path(name).name}`; raise train.epochs for a full training "
        f"(the search trained {row.epochs} epoch{'s' if row.epochs != 1 else ''})."
    )
    return dump_spec(winner_spec(base, row, seed=seed), header=header).encode()


# --- writing into the study folder ---------------------------------------------------------------------------------


def check_outputs(folder: Path, names: Iterable[str], *, study: str, force: bool = False) -> None:
    """Refuse (OutputExists) when a file of `names` exists in `folder` and was not written there, unchanged since, by a
    search or report of `study`; `force` replaces anything."""
    ours = _ours(folder, study, force=force)
    for name in names:
        path = folder / name
        if not force and os.path.lexists(path) and (name not in ours or _sha256(path) != ours[name]):
            raise OutputExists(path)


def write_outputs(folder: Path, files: Mapping[str, bytes], *, study: str, force: bool = False) -> list[Path]:
    """Write `files` (names relative to `folder`) atomically, all or none: each is refused as `check_outputs` says,
    then recorded with its sha256 in the folder's manifest. The paths written."""
    check_outputs(folder, files, study=study, force=force)
    ours = _ours(folder, study, force=force)
    for name, data in files.items():
        path = folder / name
        _mkdir(path.parent)
        # a file new here takes its name by a hard link: one that appeared since the check is refused, not replaced
        write_atomic(path, data, replace=force or name in ours)
        ours[name] = hashlib.sha256(data).hexdigest()
    if files:
        write_atomic(folder / MANIFEST, json.dumps({"study": study, "files": ours}, indent=1).encode())
    return [folder / name for name in files]


def _ours(folder: Path, study: str, *, force: bool) -> dict[str, str]:
    """The files the manifest says `study` wrote here, by sha256. A manifest that is none is refused (or, with
    `force`, replaced)."""
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return {}
    try:
        manifest = json.loads(path.read_bytes()) if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError, RecursionError):
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(value, str) for value in files.values()):
        if force:
            return {}
        raise OutputExists(path)
    return dict(files) if isinstance(manifest, dict) and manifest.get("study") == study else {}


def _sha256(path: Path) -> str | None:
    """A regular file's sha256; None for anything else (a link, a folder or a FIFO is never ours)."""
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SearchError(f"cannot create the folder {printable(str(folder))}: {error.strerror}") from None
