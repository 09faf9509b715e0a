"""Cheap package fronts: a front names what it exports and the module that defines each, and a name is imported
only when first used (PEP 562), so a front that needs torch for some names costs nothing until one is asked for.
A leaf: knows no package."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`'s front: each name of `where` loaded from its module, a submodule of
    `package` (`"trainer"`) or a module named in full (`"archgen.spec"`), on first use."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module if module.startswith("archgen.") else f"{package}.{module}"),
                       name)

    return __getattr__
