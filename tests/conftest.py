"""Shared test settings: small, deterministic and quiet on a 2-core machine; and the fast tier's definition.

The fast tier, `pytest -m "not slow"`, is every test not marked slow: the unit tests of every package, one
end-to-end training and one search on the digits (tests/cli/test_train.py, tests/search/test_real.py). A test that
trains a run (the trainer, `archgen train`, a search), needs a trained run, or starts a process is marked slow; CI
runs everything. Run as the fast tier, a test that starts a Python process fails, naming the mark it lacks.
"""

from __future__ import annotations

import multiprocessing.process
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# OpenMP threads spin while waiting by default; with several torch processes on 2 cores (DDP and
# search-worker tests, the suite itself) the spinning starves the others: a ResNet-50 forward took
# 2.6 s instead of 0.1 s. Set before torch loads, and inherited by every subprocess a test starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Keep rich output plain and wide enough to assert on, whatever terminal runs the tests.
os.environ.setdefault("COLUMNS", "120")
os.environ.setdefault("NO_COLOR", "1")

# Hypothesis profiles for the fuzz battery (tests/fuzz): `fuzz-ci` (its default, derandomized: CI is reproducible)
# and `deep`, 40x the examples with fresh seeds, which a developer runs to find bugs:
# `pytest --hypothesis-profile=deep` (or ARCHGEN_FUZZ=deep). Registered in the root conftest, which pytest loads
# before the hypothesis plugin reads its option, whatever paths are on the command line.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "fuzz-ci", derandomize=True, database=None, deadline=None, print_blob=True, suppress_health_check=_QUIET
)
settings.register_profile("deep", deadline=None, print_blob=True, suppress_health_check=_QUIET)


# Fixtures that train a run, shared across a folder's files: a test that takes one is slow wherever it is.
TRAINED_RUNS = {
    "finished",  # tests/faults/conftest.py
    "digits_run", "jpeg_run",  # tests/inference/conftest.py
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _the_fast_tier_starts_no_python(request: pytest.FixtureRequest) -> Iterator[None]:
    """In the fast tier a test (and its function-scoped fixtures) may not start a Python process (a subprocess of
    sys.executable, or a multiprocessing worker): it pays the imports again, seconds each. Tools (ldconfig) pass."""
    if "not slow" not in (request.config.getoption("markexpr") or ""):
        yield
        return
    message = f"{request.node.nodeid} starts a Python process, which the fast tier (-m 'not slow') does not: mark it " \
              "@pytest.mark.slow"
    popen = subprocess.Popen.__init__

    def checked_popen(self: subprocess.Popen[bytes], args: object, *rest: object, **options: object) -> None:
        program = args if isinstance(args, (str, bytes, os.PathLike)) else next(iter(args), "")  # type: ignore[call-overload]
        assert os.fspath(program) != sys.executable, message
        popen(self, args, *rest, **options)  # type: ignore[arg-type]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", checked_popen)
        patch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
        yield
