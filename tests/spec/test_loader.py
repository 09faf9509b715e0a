"""Loading spec files: hostile inputs become one located problem each; extends merges; lines point at the value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import archgen
from archgen.errors import SpecError
from archgen.spec import read_spec
from archgen.spec.document import MAX_FILE_BYTES, locate_keys

CIFAR = """\
name = "net"

[input]
size = 32
classes = 10

[stem]
kind = "cifar"
width = 16

[body]
block = "basic"
depths = [3, 3, 3]
width = 16
shortcut = "A"
"""


def _problems(path: Path | str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        read_spec(path)
    return [str(problem) for problem in caught.value.problems]


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    spec = read_spec(_write(tmp_path, "net.toml", CIFAR))
    assert archgen.analyze(spec).params == archgen.analyze(read_spec("resnet20")).params


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    assert read_spec(_write(tmp_path, "my-net.toml", CIFAR.replace('name = "net"\n', ""))).name == "my-net"


# --- hostile files -----------------------------------------------------------------------------


def test_oversized_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.toml", "#" * (MAX_FILE_BYTES + 1))
    limit = f"{MAX_FILE_BYTES:,}"
    assert _problems(path) == [f"{path}: file is {MAX_FILE_BYTES + 1:,} bytes; a spec may be at most {limit} bytes"]


def test_folder_given_as_a_spec(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    assert _problems(tmp_path / "dir.toml") == [
        f"{tmp_path / 'dir.toml'}: is a folder, not a spec file (archgen validate accepts folders)"
    ]


def test_missing_file(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nope.toml") == [f"{tmp_path / 'nope.toml'}: no such file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_special_file_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.toml")  # reading it would block forever
    assert _problems(tmp_path / "pipe.toml") == [f"{tmp_path / 'pipe.toml'}: is not a regular file"]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "secret.toml", CIFAR)

    real = os.open

    def refuse(name: object, *args: object, **kwargs: object) -> int:
        if str(name) == str(path):
            raise PermissionError(13, "Permission denied")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)  # chmod 0 does not stop root, who runs CI
    assert _problems(path) == [f"{path}: permission denied: the file cannot be read"]


def test_deep_inline_nesting_does_not_recurse(tmp_path: Path) -> None:
    path = _write(tmp_path, "deep.toml", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    assert _problems(path) == [f"{path}:1: arrays or tables nested too deeply (archgen reads at most 32 levels)"]


def test_extends_chain_is_bounded(tmp_path: Path) -> None:
    _write(tmp_path, "n0.toml", CIFAR)
    for index in range(1, 20):
        _write(tmp_path, f"n{index}.toml", f'extends = "n{index - 1}.toml"\n')
    problems = _problems(tmp_path / "n19.toml")
    assert len(problems) == 1 and "more than 16 specs in one extends chain" in problems[0]
    assert problems[0].endswith(f"(extended by {tmp_path / 'n19.toml'})")


# --- extends --------------------------------------------------------------------------------


def test_child_overrides_merge_into_the_parent(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", CIFAR + '\n[train]\nepochs = 10\n')
    text = 'extends = "base.toml"\n[body]\nshortcut = "B"\n[train]\nlr = 0.05\n'
    child = read_spec(_write(tmp_path, "child.toml", text))
    assert (child.name, child.body.shortcut, child.body.depths) == ("child", "B", (3, 3, 3))
    assert (child.train.epochs, child.train.lr) == (10, 0.05)


def test_explicit_stages_replace_the_parent_s_rule_form(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", CIFAR)
    text = 'extends = "base.toml"\n[[body.stages]]\ndepth = 2\nwidth = 16\nstride = 1\n'
    child = read_spec(_write(tmp_path, "child.toml", text))
    assert child.body.depths is None and child.body.width is None
    assert [(stage.depth, stage.width) for stage in child.body.resolved_stages()] == [(2, 16)]


def test_extends_a_shipped_spec_by_name_and_folder_below(tmp_path: Path) -> None:
    _write(tmp_path, "parents/base.toml", CIFAR)
    assert read_spec(_write(tmp_path, "a.toml", 'extends = "resnet56"\n')).body.depths == (9, 9, 9)
    assert read_spec(_write(tmp_path, "b.toml", 'extends = "parents/base.toml"\n')).name == "b"


def test_name_description_and_reference_are_not_inherited(tmp_path: Path) -> None:
    child = read_spec(_write(tmp_path, "variant.toml", 'extends = "resnet20"\n[body]\nshortcut = "B"\n'))
    assert (child.name, child.description, child.reference) == ("variant", "", None)


def test_a_problem_in_the_child_points_at_the_child(tmp_path: Path) -> None:
    path = _write(tmp_path, "child.toml", 'extends = "resnet20"\n\n[body]\nwidth = 0\n')
    assert _problems(path) == [f"{path}:4: body.width: must be greater than or equal to 1, got 0"]


def test_a_rule_broken_by_a_merge_names_both_files(tmp_path: Path) -> None:
    path = _write(tmp_path, "child.toml", 'extends = "resnet20"\n\n[body]\nblock = "bottleneck"\n')
    parent = archgen.spec.library.find_shipped("resnet20")
    assert _problems(path) == [
        f"{parent}:5: depth: declared depth 20 does not match the body: 9n+2 with n = 3 blocks per stage gives 29 "
        f"(extended by {path})"
    ]


# --- where problems point -----------------------------------------------------------------------


def test_lines_follow_tables_arrays_of_tables_and_multiline_values() -> None:
    text = (
        'name = "x"\r\n'  # CRLF line endings count lines the same
        'description = """\r\nline\r\n[body]\r\n"""\r\n'
        "[body]\r\n"
        "depths = [\r\n  1,\r\n  2,\r\n]\r\n"
        '"width" = 16\r\n'
        "[[body.stages]]\r\ndepth = 1\r\n"
        "[[body.stages]]\r\ndepth = 2\r\n"
    )
    lines = locate_keys(text)
    assert lines[("description",)] == 2
    assert lines[("body",)] == 6
    assert lines[("body", "depths")] == 7
    assert lines[("body", "width")] == 11
    assert lines[("body", "stages", 0, "depth")] == 13
    assert lines[("body", "stages", 1)] == 14


def test_problems_come_in_reading_order(tmp_path: Path) -> None:
    text = CIFAR.replace("classes = 10", "classes = 0").replace('kind = "cifar"', 'kind = "cifer"')
    text += "\n[train]\nepochs = 0\n"
    lines = [int(problem.split(":")[1]) for problem in _problems(_write(tmp_path, "net.toml", text))]
    assert lines == sorted(lines) and len(lines) == 3


# --- the public API -------------------------------------------------------------------------


def test_public_load_spec_checks_size_limits(tmp_path: Path) -> None:
    text = CIFAR.replace("depths = [3, 3, 3]\nwidth = 16", "depths = [300, 300, 300]\nwidth = 2048")
    path = _write(tmp_path, "huge.toml", text.replace('block = "basic"', 'block = "bottleneck"').replace('"A"', '"B"'))
    with pytest.raises(SpecError, match="parameters, more than archgen builds"):
        archgen.load_spec(path)


def test_public_analyze_returns_integer_params_and_macs() -> None:
    complexity = archgen.analyze(archgen.load_spec("resnet50-v1.5"))
    assert (complexity.params, complexity.macs) == (25_557_032, 4_089_184_256)
    assert isinstance(complexity.params, int) and isinstance(complexity.macs, int)
