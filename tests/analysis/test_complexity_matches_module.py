"""Moved: the analysis and the built module are held to one plan in tests/plan/test_plan_matches_module.py.

tests/fuzz/test_fuzz_valid.py still imports its oracle (`measure`, `predicted`) from here; once it imports them
from tests/plan, this file can go.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plan"))
from test_plan_matches_module import measure, predicted

__all__ = ["measure", "predicted"]
