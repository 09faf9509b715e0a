"""Every bug the fuzzers found, as a plain test: the input that broke archgen and the located problem it now gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_settings import located
from in_process import archgen_here

from archgen.analysis import SPEC_CHECKS
from archgen.errors import SpecError
from archgen.spec import read_spec
from archgen.spec.library import find_shipped
from archgen.validation import validate_paths

SEARCH = (find_shipped("digits-search") or Path()).read_text(encoding="utf-8")
LR = '"train.lr" = { low = 0.01, high = 0.3, log = true }'
DEPTH0 = '"body.depths.0" = { low = 1, high = 3 }'


def _problems(tmp_path: Path, text: str, name: str = "spec.toml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        read_spec(path, checks=SPEC_CHECKS)
    assert all(located(problem, path) for problem in caught.value.problems), caught.value.problems
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("name", ["plain20", "digits-plain20", "resnext50_32x4d", "degradation-grid"])
def test_extending_a_shipped_spec_that_extends_another(tmp_path: Path, name: str) -> None:
    """Bug: the shipped parent's own relative `extends` was judged against the user's folder ("leaves the folder")."""
    path = tmp_path / "child.toml"
    path.write_text(f'extends = "{name}"\nname = "child"\n', encoding="utf-8")
    assert read_spec(path).body == read_spec(name).body


def test_extends_with_a_nul_byte(tmp_path: Path) -> None:
    """Bug: ValueError (embedded null byte) from the path functions."""
    [problem] = _problems(tmp_path, 'extends = "a\\u0000b.toml"\n')
    assert problem.startswith(f"{tmp_path / 'spec.toml'}:1: extends: ")


@pytest.mark.parametrize("extends", ["a" * 5000 + ".toml", "x/" * 3000 + "a.toml"])
def test_extends_with_a_path_too_long_for_the_system(tmp_path: Path, extends: str) -> None:
    """Bug: OSError (File name too long) from is_file()."""
    [problem] = _problems(tmp_path, f'extends = "{extends}"\n')
    assert problem.startswith(f"{tmp_path / 'spec.toml'}:1: extends: ")


@pytest.mark.parametrize("name", ["a" * 5000 + ".toml", "b" * 5000])
def test_validate_a_path_too_long_for_the_system(name: str) -> None:
    """Bug: OSError (File name too long) from exists()/is_dir() in `archgen validate` and `read_spec`."""
    [problem] = validate_paths([name]).problems
    assert str(problem).startswith(name[:100]) and "\n" not in str(problem)
    result = archgen_here("validate", name)
    assert result.code == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("key", ["a\\nb", "a\\rb", "a\\u202eb", "a\\u200bb", "a\\u0007b"])
def test_a_key_with_control_characters_stays_on_one_line(tmp_path: Path, key: str) -> None:
    """Bug: the field path printed the key raw, so a newline in a quoted key split the problem line in two."""
    text = (find_shipped("resnet20") or Path()).read_text(encoding="utf-8")
    [problem] = _problems(tmp_path, f'{text}\n"{key}" = 1\n')
    assert problem.isprintable(), problem


def _search(tmp_path: Path, old: str, new: str, sampler: str = "") -> list[str]:
    text = SEARCH.replace(old, new)
    assert text != SEARCH
    if sampler:
        text = text.replace('pruner = "median"', f'pruner = "median"\nsampler = "{sampler}"')
    return _problems(tmp_path, text)


def test_grid_over_a_huge_integer_range(tmp_path: Path) -> None:
    """Bug: the grid check listed every point of the range (MemoryError, or minutes)."""
    problems = _search(tmp_path, DEPTH0, '"body.depths.0" = { low = 1, high = 100_000_000_000 }', "grid")
    assert any("body.depths.0" in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (LR, '"train.lr" = { low = 0.01, high = ' + "9" * 400 + " }"),  # OverflowError: int too large for a float
        (LR, '"train.lr" = { low = -1e308, high = 1e308, step = 1e-300 }'),  # round(inf)
        (DEPTH0, '"body.depths.0" = { low = 1, high = ' + "9" * 400 + ", step = 1 }"),  # int / int too large
        (DEPTH0, '"body.depths.0" = { choices = [1, ' + "9" * 400 + "] }"),
        (LR, '"train.lr" = { choices = [0.1, ' + "9" * 400 + "] }"),
    ],
)
def test_search_ranges_beyond_floats(tmp_path: Path, old: str, new: str) -> None:
    """Bug: OverflowError from float arithmetic on TOML's unbounded integers."""
    assert _search(tmp_path, old, new)


def test_a_misspelled_extends_gets_a_did_you_mean(tmp_path: Path) -> None:
    """Bug: `extends` is the loader's key, not a schema field, so `xtends` got no hint and the list omitted it."""
    problems = _problems(tmp_path, 'xtends = "resnet20"\nname = "child"\n')
    assert any("unknown key 'xtends'; did you mean 'extends'?" in problem for problem in problems), problems


def test_extends_a_symlink_loop(tmp_path: Path) -> None:
    """Bug: Path.resolve() raises RuntimeError on a loop of symbolic links (Python 3.11)."""
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(tmp_path / "loop.toml")
    [problem] = _problems(tmp_path, 'extends = "loop.toml"\n')
    assert problem.endswith(":1: extends: 'loop.toml' cannot be opened: its symbolic links form a loop"), problem


def test_a_deep_stem_one_channel_wide(tmp_path: Path) -> None:
    """Bug: the deep stem's inner convs have width // 2 = 0 channels; the spec validated, building it crashed."""
    text = (find_shipped("resnet20") or Path()).read_text(encoding="utf-8")
    text = text.replace('kind = "cifar"', 'kind = "deep"').replace("width = 16\n", "width = 1\n", 1)
    assert 'kind = "deep"' in text and "width = 1\n" in text
    [problem] = _problems(tmp_path, text)
    assert ": stem.width: the deep stem's inner convs are width // 2 = 0 channels wide; " in problem, problem


def test_a_quoted_key_with_escapes_is_located_on_its_line(tmp_path: Path) -> None:
    """Bug: the line finder kept `"a\\nb"`'s escape undecoded, so the key (holding a newline) fell back to line 1."""
    body = '[input]\nsize = 8\nclasses = 2\n[stem]\nkind = "cifar"\nwidth = 4\n[body]\nblock = "basic"\ndepths = [1]\n'
    [problem] = _problems(tmp_path, 'name = "n"\n\n"a\\nb" = 1\n' + body + "width = 4\n")
    assert problem.endswith(":3: a\\nb: unknown key 'a\\nb' (allowed: name, description, reference, depth, input, "
                            "stem, body, head, train, search, extends)"), problem


def test_a_dotted_key_of_three_thousand_parts_is_located(tmp_path: Path) -> None:
    """Bug: tomli refuses keys of over 1000 parts with a RecursionError; the problem had no line."""
    [problem] = _problems(tmp_path, 'name = "n"\n\n[x]\n' + ".".join(["a"] * 3000) + " = 1\n")
    assert problem.endswith(":4: arrays or tables nested too deeply (archgen reads at most 32 levels)"), problem


def test_a_file_of_two_hundred_thousand_wrong_values_lists_the_first_hundred(tmp_path: Path) -> None:
    """Bug: every problem was listed (and each offered a did-you-mean): 20 s and 200,000 lines for a 1 MiB file."""
    text = (find_shipped("resnet20") or Path()).read_text(encoding="utf-8")
    text = text.replace("depths = [3, 3, 3]", "depths = [" + ", ".join(["0"] * 8) + "]")
    text += "".join(f"k{index} = 1\n" for index in range(60_000))
    problems = _problems(tmp_path, text)
    assert len(problems) == 101, len(problems)
    assert problems[0].endswith(":18: body.depths.0: must be greater than or equal to 1, got 0")
    assert problems[-1].endswith(":113: and 59,908 more problems from here on (archgen lists the first 100 of a file)")


@pytest.mark.parametrize(
    ("param", "problem"),
    [
        ('"train.momentum" = { choices = [0.5, 2.0] }', "choices.1: 2.0 is not a valid train.momentum: must be less"),
        ('"train.momentum" = { low = 0.5, high = 3.0 }', "high: 3.0 is not a valid train.momentum: must be less"),
        ('"stem.width" = { choices = [0, 16] }', "choices.0: 0 is not a valid stem.width: must be greater"),
        ('"train.lr" = { low = 0.01, high = 1000.0, log = true }', "high: 1000.0 is not a valid train.lr"),
    ],
)
def test_search_values_beyond_a_fields_bounds(tmp_path: Path, param: str, problem: str) -> None:
    """Bug: a field's bounds were lost when resolving its path (pydantic keeps them beside the annotation), so
    a search could propose momentum 2.0 or a stem 0 wide: valid in validation, a failed trial later."""
    problems = _search(tmp_path, LR, param)
    assert any(problem in line for line in problems), problems


@pytest.mark.parametrize(
    ("index", "problem"),
    [
        ("\u00b2", "body.depths is an array: index it with a number or '*', got '\u00b2'"),
        ("1" * 5000, "the base spec has 3 entries there, so index 1111"),
    ],
)
def test_a_search_index_int_cannot_read(tmp_path: Path, index: str, problem: str) -> None:
    """Bug: '²' is a digit to str.isdigit but not to int(), and int() refuses 5000 digits: both were a traceback."""
    problems = _search(tmp_path, DEPTH0, f'"body.depths.{index}" = {{ low = 1, high = 3 }}')
    assert any(problem in line for line in problems), problems


def test_a_bottleneck_whose_3x3_has_no_channels(tmp_path: Path) -> None:
    """Bug: int(width x width_per_group / 64) = 0 was only checked with groups > 1; with one group the spec
    validated and building it crashed on a zero-channel conv."""
    text = (find_shipped("resnet50") or Path()).read_text(encoding="utf-8")
    text = text.replace("width = 64                # first stage", "width = 1  # first stage")
    text = text.replace('block = "bottleneck"', 'block = "bottleneck"\nwidth_per_group = 16')
    problems = _problems(tmp_path, text)
    assert any("body.width: stages.0's 3x3 width int(1 x 16 / 64) = 0 has no channels" in line for line in problems)


@pytest.mark.parametrize("name", ["a\nb.toml", "evil\u202etxt.toml", "tab\there.toml"])
def test_a_file_name_with_control_characters_stays_on_one_line(tmp_path: Path, name: str) -> None:
    """Bug: `archgen validate` printed file names raw: a newline split a problem in two, U+202E reversed it."""
    (tmp_path / name).write_text("name = 3\n", encoding="utf-8")
    ran = archgen_here("validate", str(tmp_path))
    lines = ran.stdout.splitlines()
    assert ran.code == 1 and lines[-1].startswith("1 of 1 spec invalid") and len(lines) > 1
    escaped = str(tmp_path / repr(name)[1:-1])
    assert all(line.isprintable() and line.startswith(f"{escaped}:") for line in lines[:-1]), lines
