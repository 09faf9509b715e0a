"""archgen's words for pydantic's validation errors: the rule a value breaks, the value as TOML writes it, near names.

The one place that rewrites pydantic's messages, for spec files, search values, recipe overrides and data shapes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from pydantic_core import ErrorDetails

from archgen.spec import fields
from archgen.spec.fields import Loc

# A spec file's own key (the loader follows it), allowed at the top of a file though no field of NetSpec.
_FILE_KEYS = ["extends"]


def rule_message(error: ErrorDetails, *, at: Loc = (), got: bool = True) -> str:
    """One of pydantic's errors as archgen says it: the rule, then the value it got.

    `must be greater than 0, got -1.0`; `string 'botleneck' is not allowed; did you mean 'bottleneck'? (choose
    from …)`; `unknown key 'widht'; did you mean 'width'? (allowed: …)`. `at` is where the validated data sits
    in NetSpec (`("train",)` for a Train), which names the allowed keys and choices; `got=False` gives the rule
    alone (`must be …`), for a message that shows the value itself.
    """
    kind, loc, value = error["type"], (*at, *error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        allowed = fields.field_names(loc[:-1]) + (_FILE_KEYS if len(loc) == 1 else [])
        listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {quote(str(loc[-1]))}{did_you_mean(str(loc[-1]), allowed)}{listed}"
    if kind == "missing":
        return "required, but not given"
    if kind == "literal_error":
        choices = [str(choice) for choice in fields.literal_choices(loc)]
        hint, listed = did_you_mean(str(value), choices, cutoff=0.5), ", ".join(map(repr, choices))
        if len(choices) > _MAX_LISTED:  # e.g. the paper networks a `reference` names: too many for one line
            listed = f"{len(choices)} values, listed by `archgen schema --format markdown`"
            return f"{show(value)} is not allowed{hint} (one of {listed})" if got else f"must be one of {listed}{hint}"
        return f"{show(value)} is not allowed{hint} (choose from {listed})" if got else f"must be one of {listed}{hint}"
    rule = _rule(kind, loc, str(error["msg"]))
    if not got or kind in {"too_long", "too_short"}:  # the length rules already count the items
        return rule
    return f"{rule}, got {show(value)}"


# A closed set longer than this is not listed in a problem's one line, only counted.
_MAX_LISTED = 16


def _rule(kind: str, loc: Loc, message: str) -> str:
    if kind in {"model_type", "dict_type"}:
        return "must be a table"
    if kind == "string_pattern_mismatch" and loc == ("name",):
        return "must start with a letter or digit and hold only letters, digits, '_', '-' and '.'"
    # pydantic's "Input should be …" / "String should have …" read as the rule: "must be …"
    message = re.sub(r"^(Input|String|Tuple|List|Value) should ", "must ", message)
    message = message.replace("a valid integer", "an integer").replace("a valid ", "a ")
    message = message.replace("a tuple", "an array").replace("a list", "an array").replace("a dictionary", "a table")
    return message.replace(" after validation", "") if kind in {"too_long", "too_short"} else message


def did_you_mean(given: str, choices: Iterable[str], *, cutoff: float = 0.6, prefix: str = "") -> str:
    """`; did you mean 'x'?` for the closest choices (all of those tied for closest, case ignored), or ''.

    `prefix` is written before each suggestion (a search path's parent: `'body.width'` for `widht` in body).
    """
    scores = {choice: difflib.SequenceMatcher(None, given.casefold(), choice.casefold()).ratio() for choice in choices}
    best = max(scores.values(), default=0.0)
    if best < cutoff:
        return ""
    matches = [repr(prefix + choice) for choice, score in scores.items() if score == best][:3]
    listed = matches[0] if len(matches) == 1 else f"{', '.join(matches[:-1])} or {matches[-1]}"
    return f"; did you mean {listed}?"


_TOML_TYPES = {dict: "table", list: "array", str: "string", bool: "boolean", int: "integer", float: "float"}


def show(value: object) -> str:
    """A value as the user wrote it in TOML, shortened: huge inputs must not flood the terminal."""
    kind = _TOML_TYPES.get(type(value))
    if kind in {"table", "array"}:
        return f"an {kind}" if kind == "array" else f"a {kind}"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}" if kind in {"string"} else text


def quote(text: str, limit: int = 100) -> str:
    """`text` quoted as Python writes it (control characters escaped), shortened past `limit` characters."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"
