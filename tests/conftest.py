"""Shared test settings: small, deterministic and quiet on a 2-core machine."""

from __future__ import annotations

import os

# Keep rich output plain and wide enough to assert on, whatever terminal runs the tests.
os.environ.setdefault("COLUMNS", "120")
os.environ.setdefault("NO_COLOR", "1")
