"""Shared test settings: small, deterministic and quiet on a 2-core machine."""

from __future__ import annotations

import os

# OpenMP threads spin while waiting by default; with several torch processes on 2 cores (DDP and
# search-worker tests, the suite itself) the spinning starves the others: a ResNet-50 forward took
# 2.6 s instead of 0.1 s. Set before torch loads, and inherited by every subprocess a test starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Keep rich output plain and wide enough to assert on, whatever terminal runs the tests.
os.environ.setdefault("COLUMNS", "120")
os.environ.setdefault("NO_COLOR", "1")
