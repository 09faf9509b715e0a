"""Fixtures shared by the fault battery's training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import archgen_here, only_run, write_tiny


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (checkpoints after the last two epochs, final weights), trained once. Read-only by
    convention: a test that damages or resumes a run copies it first. Its tests are slow (tests/conftest.py)."""
    folder = tmp_path_factory.mktemp("finished")
    assert archgen_here("train", str(write_tiny(folder)), "--out", str(folder / "runs")).code == 0
    return only_run(folder / "runs")
