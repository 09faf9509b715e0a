"""Shared test settings: small, deterministic and quiet on a 2-core machine."""

from __future__ import annotations

import os

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
