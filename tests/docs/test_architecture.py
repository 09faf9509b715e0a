"""docs/architecture.md is the map of the code: every module it names exists, and every package is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
NAMED = re.compile(r"`((?:archgen|tests)/[\w/]+\.py)`")


def named_modules(text: str) -> set[str]:
    return set(NAMED.findall(text))


def test_every_module_the_page_names_exists() -> None:
    named = named_modules(PAGE.read_text(encoding="utf-8"))
    assert len(named) > 60  # the page is the map, not a sketch
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_a_renamed_module_would_be_caught() -> None:
    """Control: the same check on a page naming a module that is not there."""
    named = named_modules("the trainer (`archgen/training/training.py`) and `archgen/errors.py`")
    assert named == {"archgen/training/training.py", "archgen/errors.py"}
    assert [path for path in sorted(named) if not (ROOT / path).is_file()] == ["archgen/training/training.py"]


def test_every_package_and_top_level_module_is_on_the_page() -> None:
    named = named_modules(PAGE.read_text(encoding="utf-8"))
    packages = {path.parent.name for path in (ROOT / "archgen").glob("*/__init__.py")}
    modules = {path.name for path in (ROOT / "archgen").glob("*.py")} - {"__main__.py"}
    absent = sorted({f"archgen/{package}/" for package in packages
                     if not any(path.startswith(f"archgen/{package}/") for path in named)}
                    | {f"archgen/{module}" for module in modules if f"archgen/{module}" not in named})
    assert not absent, f"docs/architecture.md does not place {absent}"
