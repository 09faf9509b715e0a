"""How archgen's commands print their usage and help: click's plain layout, wrapped once to the terminal's width,
every value named in words (`--out DIR`, `[SPEC]`, `PATH...`), flags without a type. No rich: `--help` is instant.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeAlias

from typer.core import TyperCommand, TyperGroup

try:  # typer 0.2x carries its own copy of click: its usage errors are that copy's classes
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover (older typer uses click itself)
    from click import exceptions as click_errors  # type: ignore[no-redef]

__all__ = ["Command", "Group", "click_errors"]

# click's parameters, contexts and formatters are read through their documented attributes only
Context: TypeAlias = Any
Formatter: TypeAlias = Any
Param: TypeAlias = Any


class Command(TyperCommand):
    """A command whose usage line and parameter list read `archgen train [OPTIONS] [SPEC]`, `-o, --out DIR`."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        arguments = [usage_name(param) for param in self.get_params(ctx) if param.param_type_name == "argument"]
        return [self.options_metavar or "", *arguments]

    def format_options(self, ctx: Context, formatter: Formatter) -> None:
        write_parameters(self, ctx, formatter)


class Group(TyperGroup):
    """The `archgen` group: its own options, then its commands, one line each."""

    def format_options(self, ctx: Context, formatter: Formatter) -> None:
        write_parameters(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Context, formatter: Formatter) -> None:
        """Each command with its help's first paragraph, whole (wrapped, never cut short)."""
        rows = [(name, summary(command)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def summary(command: Any) -> str:
    """A command's help up to its first blank line, on one line."""
    return " ".join((command.short_help or command.help or "").split("\n\n")[0].split())


def write_parameters(command: Any, ctx: Context, formatter: Formatter) -> None:
    params = [param for param in command.get_params(ctx) if not getattr(param, "hidden", False)]
    arguments = [(argument_name(param), param.help or "") for param in params if param.param_type_name == "argument"]
    options = [(option_names(param), option_help(param)) for param in params if param.param_type_name == "option"]
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


def argument_name(param: Param) -> str:
    """`SPEC`, `PATH...`: the metavar, upper case, with `...` for an argument that takes several."""
    name = param.metavar or (param.name or "").upper()
    return f"{name}..." if param.nargs != 1 else name


def usage_name(param: Param) -> str:
    return argument_name(param) if param.required else f"[{argument_name(param)}]"


def option_names(param: Param) -> str:
    """`-o, --out DIR`; `--plain / --no-plain` for a flag; `-f, --format [text|json|github]` for a choice."""
    names = ", ".join(sorted(param.opts, key=len))
    if param.secondary_opts:
        names += " / " + ", ".join(sorted(param.secondary_opts, key=len))
    value = value_name(param)
    return f"{names} {value}" if value else names


def value_name(param: Param) -> str:
    """What an option's value is called in help: its metavar, its choices, or '' for a flag."""
    if param.is_flag or param.count:
        return ""
    if param.metavar:
        return param.metavar
    choices = _choices(param)
    if choices:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in choices) + "]"
    return (param.name or "value").upper()


def _choices(param: Param) -> tuple[object, ...] | None:
    """A closed set's values: click's `Choice`, or typer 0.2x's own description of the annotation."""
    if hasattr(param, "type"):
        return getattr(param.type, "choices", None)
    described = getattr(param, "type_descriptor", None)
    return described.choices if described is not None and described.is_choice else None


def option_help(param: Param) -> str:
    """The help text, and the default where one is worth showing (not for flags that are off, nor None)."""
    help = param.help or ""
    default = param.default
    if not param.show_default or default is None or callable(default) or (param.is_flag and not default):
        return help
    if param.is_flag:
        return f"{help}  [default: {param.opts[-1]}]"
    shown = ", ".join(map(_shown, default)) if isinstance(default, list | tuple) else _shown(default)
    return f"{help}  [default: {shown}]" if shown else help


def _shown(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)
