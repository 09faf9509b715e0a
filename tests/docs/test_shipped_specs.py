"""What the docs promise of the shipped specs (docs/spec-language.md, `extends`): each extends a shipped spec by name
or a file inside its own folder, so that they load the same from a clone and from an installed package."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from archgen.spec.library import LIBRARY_ROOT, looks_like_name, shipped_specs

SHIPPED = sorted(LIBRARY_ROOT.rglob("*.toml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: str(path.relative_to(LIBRARY_ROOT)))
def test_a_shipped_spec_extends_inside_its_folder(path: Path) -> None:
    extends = tomllib.loads(path.read_text()).get("extends")
    if extends is None or looks_like_name(extends):
        assert extends is None or extends in shipped_specs()
        return
    parent = (path.parent / extends).resolve()
    assert parent.parent == path.parent.resolve() and parent.is_file(), f"{path.name} extends {extends!r}"


def test_the_walk_sees_both_kinds() -> None:  # control: names and files are both met
    texts = [tomllib.loads(path.read_text()).get("extends") for path in SHIPPED]
    assert any(text and looks_like_name(text) for text in texts) and any(text and text.endswith(".toml")
                                                                           for text in texts)
