"""Hypothesis profiles of the fuzz battery: `fuzz-ci` (default, derandomized: CI is reproducible) and `deep`.

`pytest tests/fuzz --hypothesis-profile=deep` (or ARCHGEN_FUZZ=deep) runs 40x the examples with fresh random
seeds: what a developer runs to find bugs. Registered here, before the hypothesis plugin reads the option,
when tests/fuzz is on the command line (pytest loads a path's conftest before configuring plugins).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "fuzz-ci", derandomize=True, database=None, deadline=None, print_blob=True, suppress_health_check=_QUIET
)
settings.register_profile("deep", deadline=None, print_blob=True, suppress_health_check=_QUIET)
