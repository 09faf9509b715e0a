"""The files a study writes into its folder, and the manifest that says which study wrote which: winners and plots
(`archgen search`, `archgen report`) and each trained trial's kept files (trials/, tensorboard/). Nothing a study did
not write, unchanged since, is replaced without `--force`, and nothing another study kept is read as its own.

Knows names, bytes and the manifest; what the files hold is their writers' (`winners`, `depth`, `trial`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from archgen.errors import RunError, SearchError, printable
from archgen.files import Limit, OutputExists, ensure_folder, read_bounded, sha256_of, write_atomic

MANIFEST = ".archgen-written.json"  # in the study folder: what a search or report of which study wrote there
MANIFEST_LIMIT = Limit(64 * 2**20, "a study folder's manifest (the names and sha256 of the files it wrote)")
KEPT_LIMIT = Limit(16 * 2**30, "a file a study keeps (a trial's spec or weights)")
FOLDER = "folder"  # the manifest's entry for a folder a study made (TensorBoard's events: their files grow)
KEPT = re.compile(r"(trials|tensorboard)/trial-(\d+)(/.*)?")  # what a study keeps of each trial, by trial number


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
    then recorded with its sha256 in the folder's manifest. The paths written.

    Under the folder's lock: the workers of a search keep their trials' files at once, and each must find the
    others' records in the manifest it rewrites."""
    if not files:
        return []
    with _locked(folder):
        check_outputs(folder, files, study=study, force=force)
        ours = _ours(folder, study, force=force)
        for name, data in files.items():
            path = folder / name
            _mkdir(path.parent)
            # a file new here takes its name by a hard link: one that appeared since the check is refused, not replaced
            write_atomic(path, data, replace=force or name in ours)
            ours[name] = hashlib.sha256(data).hexdigest()
        _record(folder, study, ours)
    return [folder / name for name in files]


def make_folder(folder: Path, name: str, *, study: str, force: bool = False) -> Path:
    """The folder `name` in `folder`, made for `study` and recorded in the manifest (its files are its writer's, as
    TensorBoard's event files are); refused (OutputExists) when it exists and is not `study`'s, unless `force`."""
    with _locked(folder):
        ours, path = _ours(folder, study, force=force), folder / name
        if not force and os.path.lexists(path) and ours.get(name) != FOLDER:
            raise OutputExists(path)
        _mkdir(path)
        ours[name] = FOLDER
        _record(folder, study, ours)
    return path


def owned(folder: Path, names: Iterable[str], *, study: str) -> bool:
    """Whether every file of `names` in `folder` was written by `study`, unchanged since: only those are read back
    as the study's own (a deeper trial grows from no other study's weights)."""
    try:
        ours = _ours(folder, study, force=False)
    except OutputExists:  # a manifest that is none records nothing
        return False
    return all(name in ours and _sha256(folder / name) == ours[name] for name in names)


def check_kept(folder: Path, *, study: str, first: int, force: bool = False) -> None:
    """Refuse (OutputExists) a search of `study` whose new trials, numbered from `first`, would write where another
    study (or anyone) kept something: every file of trials/trial-N/ and every tensorboard/trial-N/ with N >= first
    must be one the manifest records as `study`'s. Checked before the first trial trains; each write checks again."""
    if force:
        return
    ours = _ours(folder, study, force=False)
    for path in _kept(folder, first):
        if path.relative_to(folder).as_posix() not in ours:
            raise OutputExists(path)


def _kept(folder: Path, first: int) -> Iterator[Path]:
    """What trials numbered from `first` would write over: each file in trials/trial-N/, each tensorboard/trial-N/
    (its event files are TensorBoard's; the folder is the study's)."""
    for kind in ("trials", "tensorboard"):
        for path in sorted((folder / kind).glob("trial-*")):
            number = path.name.removeprefix("trial-")
            if not (number.isascii() and number.isdigit() and int(number) >= first):
                continue
            if kind == "tensorboard" or path.is_symlink() or not path.is_dir():
                yield path
            else:  # every file at any depth, and every link (never followed)
                yield from sorted(entry for entry in path.rglob("*") if entry.is_symlink() or not entry.is_dir())


def _record(folder: Path, study: str, ours: dict[str, str]) -> None:
    write_atomic(folder / MANIFEST, json.dumps({"study": study, "files": ours}, indent=1).encode())


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One writer of the folder's manifest at a time: an flock on the folder itself (nothing is added to it),
    released by the OS if its holder dies."""
    _mkdir(folder)
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise SearchError(f"cannot open the folder {printable(str(folder))}: {error.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # the lock goes with the descriptor


def _ours(folder: Path, study: str, *, force: bool) -> dict[str, str]:
    """The files the manifest says `study` wrote here, by sha256. A manifest that is none is refused (or, with
    `force`, replaced)."""
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return {}
    try:
        manifest = None if path.is_symlink() else json.loads(read_bounded(path, MANIFEST_LIMIT))
    except (RunError, ValueError, RecursionError):  # not a regular file, too large, not JSON: not a manifest
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(value, str) for value in files.values()):
        if force:
            return {}
        raise OutputExists(path)
    return dict(files) if isinstance(manifest, dict) and manifest.get("study") == study else {}


def _sha256(path: Path) -> str | None:
    """A regular file's sha256; None for anything else (a link, a folder or a FIFO is never ours)."""
    if path.is_symlink():
        return None
    try:
        return sha256_of(path, KEPT_LIMIT)  # read in pieces, never blocking on a FIFO swapped in
    except RunError:
        return None


def _mkdir(folder: Path) -> None:
    try:
        ensure_folder(folder, parents=True)  # a link planted at the name is refused, never followed
    except OSError as error:
        raise SearchError(f"cannot create the folder {printable(str(folder))}: {error.strerror}") from None
