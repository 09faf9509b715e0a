"""Example budgets of the fuzzers, the predicate every problem must pass (it names the file and where), and
loading a fuzzed file under that predicate.

`examples(n)` is n examples under the CI profile and DEEP_FACTOR x n under `--hypothesis-profile=deep`. A `Tally`
holds what each fuzzer counted, for the controls that show the fuzzers reached both outcomes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import settings

from archgen.analysis import SPEC_CHECKS
from archgen.errors import Problem, SpecError
from archgen.spec import NetSpec, read_spec

DEEP_FACTOR = 40

# Problems about a file as a whole: there is no line in it to point at (ruff says 1:1; we name the file alone).
WHOLE_FILE = (
    "no such file",
    "is a folder",
    "is not a regular file",
    "file is empty",
    "file is ",  # "file is 2,000,000 bytes; ..." / "file is larger than ..."
    "permission denied",
    "cannot be read",
)


def profile_name() -> str:
    current = settings.get_current_profile_name()
    return "deep" if "deep" in (current, os.environ.get("ARCHGEN_FUZZ")) else "fuzz-ci"


def examples(n: int) -> settings:
    """Settings for a fuzzer worth `n` examples in CI (derandomized), DEEP_FACTOR x n in the deep profile."""
    name = profile_name()
    scale = DEEP_FACTOR if name == "deep" else 1
    return settings(settings.get_profile(name), max_examples=n * scale)


class Tally(dict[str, Counter[str]]):
    """What each fuzzer of a module counted in this process, by the fuzzer's name."""

    def of(self, fuzzer: Callable[..., None]) -> Counter[str]:
        """The counts of `fuzzer` (a fuzzer names itself, at the top of its body)."""
        return self.setdefault(fuzzer.__name__, Counter())

    def after(self, *fuzzers: Callable[[], None]) -> Counter[str]:
        """The counts of `fuzzers` together, each run here first if it did not run in this process (deselected by
        `-m "not slow"`, or run by another pytest-xdist worker): whatever ran before, and where, they are the same."""
        for fuzzer in fuzzers:
            if fuzzer.__name__ not in self:
                fuzzer()
        return sum((self[fuzzer.__name__] for fuzzer in fuzzers), Counter())


def located(problem: Problem, path: Path) -> bool:
    """The problem names `path` (or the parent it came from) and a line or a field, on one line of text."""
    text = str(problem)
    if problem.file is None or "\n" in text or "\r" in text or not problem.message:
        return False
    if problem.file != path and f"(extended by {path})" not in problem.message:
        return False
    if problem.line is not None:
        return text.startswith(f"{problem.file}:{problem.line}")
    if problem.field:
        return text.startswith(f"{problem.file}: {problem.field}: ")
    return text.startswith(f"{problem.file}: ") and problem.message.startswith(WHOLE_FILE)


def load_or_located(path: Path, outcomes: Counter[str]) -> tuple[NetSpec | None, list[Problem]]:
    """Load `path` as `archgen validate` does: a spec, or problems each of which is `located`; any other exception
    fails the fuzzer. Counts "valid" and "invalid" in `outcomes`, for the fuzzers' controls."""
    try:
        spec = read_spec(path, checks=SPEC_CHECKS)
    except SpecError as error:
        unlocated = [str(problem) for problem in error.problems if not located(problem, path)]
        assert error.problems and not unlocated, unlocated
        outcomes["invalid"] += 1
        return None, list(error.problems)
    outcomes["valid"] += 1
    return spec, []
