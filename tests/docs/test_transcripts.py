"""The docs' transcript conventions (docs/README.md, "Writing docs"): parsing console blocks and comparing output."""

from __future__ import annotations

from pathlib import Path

import pytest
from transcripts import commands, matches, normal, shape

PAGE = """\
# A page

```console
$ archgen validate specs/
33 specs valid
$ archgen validate bad.toml   # exits 1
bad.toml:3: body.width: must be an integer, got string '16'

$ torchrun --nproc-per-node 4 \\
    -m archgen train resnet56
```

```
$ not a command: a block without a language is not run
```

```console numbers-vary
$ archgen train --epochs 2
  1/2     2.0096    69.73%
...
wrote runs/digits-resnet20-20261128-142632/
```
"""


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    return path


def test_commands_outputs_exit_codes_and_continuations_are_read(page: Path) -> None:
    found = commands(page)
    assert [command.text for command in found] == [
        "archgen validate specs/",
        "archgen validate bad.toml   # exits 1",
        "torchrun --nproc-per-node 4 -m archgen train resnet56",
        "archgen train --epochs 2",
    ]
    assert [command.exit_code for command in found] == [0, 1, 0, 0]
    assert found[0].expected == ("33 specs valid",) and found[0].line == 4 and found[0].output_line == 5
    assert found[2].expected == ()
    assert [command.numbers_vary for command in found] == [False, False, False, True]


def test_output_before_a_command_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("```console\n33 specs valid\n```\n")
    with pytest.raises(ValueError, match=r"bad\.md:2: console output before any"):
        commands(path)


def test_exact_blocks_compare_exactly() -> None:
    assert matches(("33 specs valid",), ["33 specs valid   "], numbers_vary=False)
    assert not matches(("33 specs valid",), ["34 specs valid"], numbers_vary=False)
    assert not matches(("33 specs valid",), ["33 specs valid", "one more line"], numbers_vary=False)


def test_stamps_and_lines_with_times_compare_by_shape() -> None:
    assert normal("run runs/x-20261128-142632", numbers_vary=False) == normal("run runs/x-20991231-000000",
                                                                              numbers_vary=False)
    assert matches(("digits: 100 epochs in 42 s",), ["digits: 100 epochs in 7 s"], numbers_vary=False)
    assert matches(("  1/100   2.0096   3,651    0.4s",), ["  1/100   2.0102     812   12.3s"], numbers_vary=False)
    assert not matches(("digits: 100 epochs in 42 s",), ["digits: 100 steps in 42 s"], numbers_vary=False)


def test_an_elision_stands_for_any_number_of_lines() -> None:
    shown = ("first", "...", "last")
    assert matches(shown, ["first", "last"], numbers_vary=False)
    assert matches(shown, ["first", "a", "b", "last"], numbers_vary=False)
    assert not matches(shown, ["first", "a", "not last"], numbers_vary=False)
    assert not matches(shown, ["a", "first", "last"], numbers_vary=False)


def test_numbers_vary_blocks_compare_words_and_survive_rewrapping() -> None:
    shown = ("best 97.22% (trial 2)", "top trials", "...", "written: runs/a/best.toml")
    assert matches(shown, ["best 96.94% (trial", "14)", "top trials", "x", "written: runs/a/best.toml"],
                   numbers_vary=True)
    assert not matches(shown, ["best 96.94% (trial 14)", "top trials", "written: runs/a/worst.toml"],
                       numbers_vary=True)
    assert not matches(("top trials",), ["top trials", "more"], numbers_vary=True)
    assert not matches(("...", "best.toml"), ["nobest.toml"], numbers_vary=True)  # whole words only


def test_numbers_vary_tables_may_hold_more_or_fewer_rows_of_one_shape() -> None:
    shown = ("top trials", " 1   11   basic [2,1,1] w8 B   97.78%", " 2    2   basic [2,1,2] w8 B   97.50%", "written")
    assert matches(shown, ["top trials", " 1   10   basic [2,1,1] w8 B   97.22%", "written"], numbers_vary=True)
    assert matches(shown, ["top trials"] + [f" {n}   {n}   basic [1,1,1] w8 B   90.00%" for n in range(5)]
                   + ["written"], numbers_vary=True)
    assert not matches(shown, ["top trials", "written"], numbers_vary=True)  # no rows is not a count
    assert not matches(shown, ["top trials", " 1   10   plain [2,1,1] w8 B   97.22%", "written"], numbers_vary=True)


def test_shape_keeps_words_and_drops_number_widths() -> None:
    assert shape(" 1      14   basic [1,1,1] w8 B    20.6k ") == shape("12       2   basic [2,3,1] w16 B   8,146 ")
    assert shape("──────") == shape("──")
    assert shape("0.00%") != shape("0.00 %")
