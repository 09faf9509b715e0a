"""The writer: every spec written out reads back to an equal NetSpec, and the files stay short."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli
from hypothesis import given, settings
from hypothesis import strategies as st

from archgen.analysis import SPEC_CHECKS
from archgen.spec import NetSpec, parse_spec, read_spec
from archgen.spec.library import shipped_specs
from archgen.spec.writer import dump_spec

SHIPPED = sorted(shipped_specs())


def _reload(text: str, tmp_path: Path) -> NetSpec:
    path = tmp_path / "written.toml"
    path.write_text(text, encoding="utf-8")
    return read_spec(path, checks=SPEC_CHECKS)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize(("comments", "defaults"), [(False, False), (True, False), (False, True), (True, True)])
def test_shipped_specs_round_trip(name: str, comments: bool, defaults: bool, tmp_path: Path) -> None:
    spec = read_spec(name)
    assert _reload(dump_spec(spec, comments=comments, defaults=defaults, header="a\nb"), tmp_path) == spec


def test_rule_form_stays_rule_form_and_defaults_are_left_out() -> None:
    text = dump_spec(read_spec("resnet34"))
    assert "depths = [3, 4, 6, 3]" in text
    assert "stages" not in text
    assert "[head]" not in text and "residual" not in text
    assert 'augment = "scale"' in text and "label_smoothing" not in text  # the recipe's own keys, not its defaults
    assert 'shortcut = "B"' in text  # written although it is the default: readers should not have to know


def test_explicit_stages_are_written_as_tables(tmp_path: Path) -> None:
    base = read_spec("resnet20")
    body = base.body.model_copy(update={"depths": None, "width": None, "stages": base.body.resolved_stages()})
    spec = base.model_copy(update={"body": body})
    text = dump_spec(spec, comments=True)
    assert text.count("[[body.stages]]") == 3
    assert "depths" not in text
    assert _reload(text, tmp_path) == spec


def test_comments_document_every_written_key() -> None:
    text = dump_spec(read_spec("resnet110"), comments=True, header="ResNet-110")
    lines = text.splitlines()
    assert lines[0] == "# ResNet-110"
    for index, line in enumerate(lines):
        if line and not line.startswith(("#", "[")):
            assert lines[index - 1].startswith("#"), f"{line!r} has no comment above it"
    assert all(len(line) <= 100 for line in lines[1:] if line.startswith("#"))


def test_defaults_writes_every_field() -> None:
    data = tomli.loads(dump_spec(read_spec("resnet20"), defaults=True))
    fields = NetSpec.model_fields["train"].annotation.model_fields  # type: ignore[union-attr]
    assert set(data["train"]) == {name for name, field in fields.items() if field.default is not None}  # TOML: no null
    assert data["head"] == {"pool": "avg", "dropout": 0.0}


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    description=_text,
    lr=st.floats(min_value=1e-9, max_value=100.0, exclude_min=True),
    milestones=st.lists(st.floats(min_value=1e-6, max_value=0.999999), max_size=4),
    dropout=st.floats(min_value=0.0, max_value=0.99),
)
def test_strings_and_floats_survive(description: str, lr: float, milestones: list[float], dropout: float) -> None:
    spec = parse_spec(
        {
            "name": "net",
            "description": description,
            "input": {"size": 32, "classes": 10},
            "stem": {"kind": "cifar", "width": 16},
            "body": {"block": "basic", "depths": [1, 1], "width": 16},
            "head": {"dropout": dropout},
            "train": {"lr": lr, "milestones": milestones},
        }
    )
    assert parse_spec(tomli.loads(dump_spec(spec, comments=True))) == spec
