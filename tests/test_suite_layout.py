"""The suite's own layout: test folders have no __init__.py, so pytest imports each module by its file name (its
folder put on sys.path); two modules of one name anywhere under tests/ fail to collect ('import file mismatch')."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_two_modules_of_the_suite_share_a_name() -> None:
    folders: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name != "conftest.py":  # pytest imports each conftest.py as part of its package path
            folders[path.name].append(str(path.parent.relative_to(TESTS)))
    assert {name: where for name, where in folders.items() if len(where) > 1} == {}
