"""One set of flags: a walk over every command's parameters and `--help` (whatever commands exist, new ones too).

One meaning per short flag across commands; booleans are `--x/--no-x`; every value is named in words; a file
help is wrapped once, to the width; the exit codes are in `archgen --help`. (Path options given a folder where a
file is meant, and the reverse: tests/faults/test_path_arguments.py.)
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import typer
from in_process import archgen_here

from archgen.cli.app import EXIT_CODES, app

ROOT = typer.main.get_command(app)
COMMANDS: dict[str, Any] = dict(ROOT.commands)  # type: ignore[attr-defined]
ACTIONS = {"--help", "--version", "--install-completion", "--show-completion"}  # flags that act, never set
WORDS = re.compile(r"[A-Z][A-Z0-9_]*(=[A-Z]+)?")


def _options(command: Any) -> list[Any]:
    return [param for param in command.params if param.param_type_name == "option"]


def _every_option() -> list[tuple[str, Any]]:
    return [(name, option) for name, command in COMMANDS.items() for option in _options(command)]


def test_a_short_flag_means_one_thing_on_every_command() -> None:
    meanings: dict[str, set[str]] = {}
    for _, option in _every_option():
        longs = [name for name in option.opts if name.startswith("--")]
        for short in (name for name in option.opts if not name.startswith("--")):
            meanings.setdefault(short, set()).update(longs)
    assert {short: longs for short, longs in meanings.items() if len(longs) > 1} == {}
    assert meanings["-d"] == {"--data"} and meanings["-b"] == {"--batch-size"}  # control: the walk sees them


@pytest.mark.parametrize(("name", "option"), _every_option(), ids=lambda value: getattr(value, "name", value))
def test_booleans_are_flag_pairs_and_values_have_names_in_words(name: str, option: Any) -> None:
    long = max(option.opts, key=len)
    if option.is_flag and long not in ACTIONS:
        assert option.secondary_opts, f"archgen {name} {long}: a boolean is --x/--no-x"
    elif not option.is_flag:
        choices = typing.get_args(option.type_descriptor.annotation) if hasattr(option, "type_descriptor") else ()
        assert (option.metavar and WORDS.fullmatch(option.metavar)) or choices, \
            f"archgen {name} {long}: name its value in words (metavar), got {option.metavar!r}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_arguments_are_named_in_words(name: str) -> None:
    for argument in (param for param in COMMANDS[name].params if param.param_type_name == "argument"):
        assert argument.metavar and WORDS.fullmatch(argument.metavar), f"archgen {name} {argument.name}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_wrapped_once_to_the_width(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    outcome = archgen_here(name, "--help")
    assert outcome.code == 0 and outcome.stdout.startswith(f"Usage: archgen {name} [OPTIONS]")
    assert "<" + "bool>" not in outcome.stdout and "list[" not in outcome.stdout and "{" + name not in outcome.stdout
    for line in outcome.stdout.splitlines():
        words_fit = len(line) <= 80 or len(line.split()[-1]) > 40  # a long token (a URL) may run past
        assert words_fit, f"archgen {name} --help: {line!r}"
    paragraphs = [p for p in outcome.stdout.split("\n\n") if p.startswith("  ") and not p.startswith("  -")]
    for paragraph in paragraphs:  # a paragraph wrapped twice leaves a short line in its middle
        lines = [line for line in paragraph.splitlines() if not line.lstrip().startswith(("-", "0", "1", "2"))]
        ragged = [line for line in lines[:-1] if len(line) < 40 and lines[-1] is not line]
        assert len(ragged) <= 1, f"archgen {name} --help wraps twice: {ragged}"


def test_usage_errors_are_one_line_with_where_the_options_are() -> None:
    for args in (["train", "--bogus"], ["train", "--threads", "0"], ["validate"], ["train", "--epochs", "x"]):
        outcome = archgen_here(*args)
        assert outcome.code == 2 and len(outcome.stderr.splitlines()) == 1, outcome.stderr
        assert outcome.stderr.startswith("error: ") and f"archgen {args[0]} -h" in outcome.stderr


def test_json_with_markdown_is_refused_in_one_line(tmp_path: Path) -> None:
    for command in ("compare", "responses"):
        outcome = archgen_here(command, str(tmp_path), "--json", "--markdown")
        assert outcome.code == 2 and "--markdown and --json" in outcome.stderr and outcome.stdout == ""


def test_version_and_the_exit_codes_are_in_the_help() -> None:
    assert archgen_here("--version").stdout.startswith("archgen ")
    help = archgen_here("--help").stdout
    assert "Exit codes:" in help and "128+N" in help and "--install-completion" in help
    assert EXIT_CODES.splitlines()[1] in help  # the table the docs copy
