"""Checking many spec files at once: folders expanded to their `*.toml` files, every file's problems collected.

What `archgen validate` and the pre-commit hook run. Torch-free; renders nothing (see archgen.report.problems).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from archgen.analysis import SPEC_CHECKS
from archgen.errors import Problem, SpecError
from archgen.spec.loader import Check, read_spec


@dataclass(frozen=True)
class FileResult:
    """One spec file: its problems (empty when valid) and, when valid, the network's name."""

    path: Path
    problems: tuple[Problem, ...] = ()
    name: str | None = None

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ValidationReport:
    """The result for every file that was checked, in the order given (folders sorted)."""

    results: tuple[FileResult, ...]

    @property
    def invalid(self) -> tuple[FileResult, ...]:
        return tuple(result for result in self.results if not result.valid)

    @property
    def valid(self) -> bool:
        return not self.invalid

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(problem for result in self.results for problem in result.problems)


def validate_paths(paths: Iterable[str | Path], *, checks: Sequence[Check] = SPEC_CHECKS) -> ValidationReport:
    """Load every spec in `paths` (files, shipped names, or folders searched recursively) and collect problems.

    A path that does not exist, or a folder without any spec file, is a problem of that path.
    """
    results: list[FileResult] = []
    seen: set[Path] = set()
    for target in _targets(paths):
        if isinstance(target, FileResult):
            results.append(target)
            continue
        key = target.resolve() if _is(Path.exists, target) else target
        if key not in seen:
            seen.add(key)
            results.append(validate_file(target, checks=checks))
    return ValidationReport(tuple(results))


def validate_file(path: str | Path, *, checks: Sequence[Check] = SPEC_CHECKS) -> FileResult:
    """One spec file (or shipped name): its problems, or its name when valid."""
    try:
        spec = read_spec(path, checks=checks)
    except SpecError as error:
        return FileResult(Path(path), problems=tuple(error.problems))
    return FileResult(Path(path), name=spec.name)


def spec_files(folder: Path) -> list[Path]:
    """Every `*.toml` below `folder` that is not a folder, sorted; hidden folders (`.git`, `.venv`) are skipped.

    Broken links, link loops and special files are kept: `read_spec` reports them instead of CI passing silently.
    """
    found = (path for path in folder.rglob("*.toml") if not _is(Path.is_dir, path))
    return sorted(path for path in found if not any(part.startswith(".") for part in path.relative_to(folder).parts))


def _targets(paths: Iterable[str | Path]) -> Iterable[Path | FileResult]:
    """Files to load, in order; a folder with no spec file yields its problem instead."""
    for given in paths:
        path = Path(given)
        if not _is(Path.is_dir, path):
            yield path  # a file, a shipped name, or a missing path: read_spec says which problem it is
            continue
        files = spec_files(path)
        if not files:
            yield FileResult(path, problems=(Problem(path, "folder holds no *.toml spec files"),))
        yield from files


def _is(test: Callable[[Path], bool], path: Path) -> bool:
    """`test(path)`, False for a path the system cannot look up (too long, NUL): read_spec then says why."""
    try:
        return test(path)
    except (OSError, ValueError):
        return False
