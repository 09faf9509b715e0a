"""The architecture as a test: which archgen modules and third-party libraries each module may import.

Parses every module with `ast` (imports inside functions count too), so an arrow pointing the
wrong way fails here before it tangles the code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "archgen"

# Each top-level part of the package and the archgen parts it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "lazy": set(),
    "reference": set(),
    "memory": {"errors"},
    "files": {"errors"},
    "devices": {"errors"},
    "statistics": set(),
    "degradation": {"errors", "spec", "statistics"},
    "spec": {"errors", "reference"},
    "plan": {"errors", "spec"},
    "analysis": {"errors", "plan", "reference", "spec"},
    "compile": {"errors", "plan", "spec"},
    "data": {"devices", "errors", "lazy", "memory", "spec"},
    "validation": {"analysis", "errors", "reference", "spec"},
    "export": {"compile", "errors", "files"},
    "training": {"analysis", "compile", "data", "degradation", "devices", "errors", "files", "lazy", "memory", "plan",
                 "reference", "spec"},
    "search": {"analysis", "compile", "data", "degradation", "devices", "errors", "files", "memory", "reference",
               "spec", "statistics", "training"},
    "inference": {"compile", "data", "devices", "errors", "export", "files", "lazy", "memory", "spec", "training"},
    "report": {"analysis", "data", "degradation", "errors", "files", "inference", "reference", "search", "spec",
               "statistics", "training", "validation"},
    "cli": {"__init__", "analysis", "compile", "data", "degradation", "devices", "errors", "export", "files",
            "inference", "memory", "reference", "report", "search", "spec", "statistics", "training", "validation"},
    "__init__": {"analysis", "compile", "errors", "inference", "lazy", "spec"},
    "__main__": {"cli"},
}

# Third-party libraries only some parts may import.
RESTRICTED = {
    "torch": {"devices", "compile", "data", "training", "export", "inference", "search", "cli", "__init__"},
    "torchvision": {"compile", "data", "training", "export"},
    "timm": {"compile", "training"},
    "optuna": {"search"},
    "rich": {"report", "cli"},
    "typer": {"cli"},
    "matplotlib": {"report"},
}


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "archgen":
                names.update(f"archgen.{alias.name}" for alias in node.names)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_point_downward(path: Path) -> None:
    part = _part(path)
    assert part in ALLOWED, f"{path}: new top-level part {part!r}; add it to the layering map"
    wrong = []
    for name in _imports(path):
        top, _, rest = name.partition(".")
        if top == "archgen":
            target = rest.partition(".")[0] or "__init__"
            if target != part and target not in ALLOWED[part] and not (
                target not in ALLOWED and "__init__" in ALLOWED[part]
            ):
                wrong.append(name)
        elif top in RESTRICTED and part not in RESTRICTED[top]:
            wrong.append(name)
    assert not wrong, f"{path.relative_to(PACKAGE)} ({part}) must not import {sorted(wrong)}"


# Parts that may use another part only through its package's public surface (its __init__ and __all__).
THROUGH_SURFACE = {"cli": {"search"}, "report": {"search"}}


@pytest.mark.parametrize("path", [p for p in MODULES if _part(p) in THROUGH_SURFACE],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_cli_and_report_use_only_the_search_surface(path: Path) -> None:
    """`archgen.search` is imported as `archgen.search`, never a module inside it (those are the search's own)."""
    inside = [name for name in _imports(path) for target in THROUGH_SURFACE[_part(path)]
              if name.startswith(f"archgen.{target}.")]
    assert not inside, f"{path.relative_to(PACKAGE)} must import {sorted(inside)} from archgen.search itself"


@pytest.mark.slow
def test_validate_path_never_imports_torch() -> None:
    """`archgen validate` stays instant: loading the CLI and validating specs must not load torch."""
    code = (
        "import sys; from archgen.cli import app; import archgen, archgen.validation; "
        "archgen.load_spec('resnet50'); bad = [m for m in ('torch', 'optuna', 'matplotlib') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
