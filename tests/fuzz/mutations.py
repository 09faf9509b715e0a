"""Hostile variants of the shipped specs, driven by a `random.Random`: hypothesis passes `st.randoms()`,
the CLI folder test passes `random.Random(i)`. Each mutation returns TOML text and what it did.

Data mutations (dropped, retyped, misspelled, out-of-range values; wrong block kinds) edit the parsed
spec and write it back with tomli-w; text mutations (duplicated keys, junk, truncation) edit the lines.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli
import tomli_w

from archgen.spec.library import shipped_specs

Loc = tuple[str | int, ...]


def _shipped_text(path: Path) -> str:
    """The spec's text, its `extends` turned into a shipped name so that it loads from any folder."""
    text = path.read_text(encoding="utf-8")
    return re.sub(r'^extends = "(?:[^"]*/)?([^"/]+)\.toml"', r'extends = "\1"', text, flags=re.MULTILINE)


SHIPPED: dict[str, str] = {name: _shipped_text(path) for name, path in sorted(shipped_specs().items())}

HUGE = [0, -1, -(2**63), 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, 10**400]
NASTY_STRINGS = ["", " ", "x" * 10_000, "\u202eevil", "a\u200bb", "\x00", "\n", "../../etc/passwd", "basic\t"]
BLOCKS = ["basic", "bottleneck", "preact_basic", "preact_bottleneck", "Basic", "resnet", "torch.nn.Conv2d", ""]
# He et al. 2016b's ablation fields, with values each field takes and some it refuses (or that contradict others).
ABLATIONS: dict[str, list[Any]] = {
    "placement": ["original", "bn_after_addition", "relu_before_addition", "relu_only_preactivation",
                  "full_preactivation", "pre_activation", "Original", ""],
    "gate": ["none", "exclusive", "shortcut_only", "shortcut-only", "highway", True],
    "gate_bias": [0.0, -6.0, -7.0, 6.0, -101.0, 1e308, -6, "-6"],
    "shortcut_scale": [1.0, 0.5, 0.0, 2.0, -0.5, 11.0, 1],
    "branch_scale": [1.0, 0.5, 0.0, -1.0, 10.0],
    "shortcut_dropout": [0.0, 0.5, 0.99, 1.0, -0.1, 2.0, 0, True],
}


@dataclass(frozen=True)
class Mutant:
    """The mutated TOML text, the mutation's name, and the key it misspelled (for the did-you-mean check)."""

    text: str
    kind: str
    misspelled: str | None = None
    original: str | None = None


# --- data mutations ----------------------------------------------------------------------------------


def _paths(value: Any, loc: Loc = ()) -> list[Loc]:
    found: list[Loc] = [loc] if loc else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found += _paths(item, (*loc, key))
    return found


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _other_type(rng: random.Random, value: Any) -> Any:
    choices: list[Any] = [
        "16",
        rng.choice(NASTY_STRINGS),
        3.5,
        float(rng.choice([0, 1, 16])),
        rng.choice([True, False]),
        [1, 2],
        [],
        {"a": 1},
        {},
        rng.choice(HUGE),
        [[[1]]],
        [{"depth": 1}],
    ]
    return rng.choice([choice for choice in choices if type(choice) is not type(value)])


def _one_edit(rng: random.Random, word: str) -> str:
    """`word` with one typo: a letter dropped, doubled, swapped with its neighbour or replaced."""
    at = rng.randrange(len(word))
    kind = rng.choice(["drop", "double", "swap", "replace"])
    if kind == "drop":
        return word[:at] + word[at + 1:]
    if kind == "double":
        return word[:at] + word[at] + word[at:]
    if kind == "swap" and at + 1 < len(word) and word[at] != word[at + 1]:
        return word[:at] + word[at + 1] + word[at] + word[at + 2:]
    letter = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[at]])
    return word[:at] + letter + word[at + 1:]


def drop_key(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    keyed = [loc for loc in _paths(data) if isinstance(loc[-1], str)]
    loc = rng.choice(keyed)
    del _get(data, loc[:-1])[loc[-1]]
    return Mutant(tomli_w.dumps(data), f"drop {'.'.join(map(str, loc))}")


def retype(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    loc = rng.choice(_paths(data))
    parent = _get(data, loc[:-1])
    parent[loc[-1]] = _other_type(rng, parent[loc[-1]])
    return Mutant(tomli_w.dumps(data), f"retype {'.'.join(map(str, loc))}")


def out_of_range(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    numeric = [loc for loc in _paths(data) if type(_get(data, loc)) in {int, float}]
    if not numeric:
        return None
    loc = rng.choice(numeric)
    parent = _get(data, loc[:-1])
    if isinstance(parent[loc[-1]], float):
        parent[loc[-1]] = rng.choice([0.0, -0.5, 1.0, 1e308, -1e308, 5e-324, float(rng.choice(HUGE[:9]))])
    else:
        parent[loc[-1]] = rng.choice(HUGE)
    return Mutant(tomli_w.dumps(data), f"out of range {'.'.join(map(str, loc))}")


def misspell(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    keyed = [loc for loc in _paths(data) if isinstance(loc[-1], str) and len(loc[-1]) >= 4 and loc[0] != "search"]
    if not keyed:
        return None
    loc = rng.choice(keyed)
    parent, key = _get(data, loc[:-1]), str(loc[-1])
    typo = _one_edit(rng, key)
    if typo in parent:
        return None
    parent[typo] = parent.pop(key)
    return Mutant(tomli_w.dumps(data), f"misspell {'.'.join(map(str, loc))}", misspelled=typo, original=key)


def wrong_block(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    body = data.setdefault("body", {})
    if not isinstance(body, dict):
        return None
    body["block"] = rng.choice(BLOCKS)
    if rng.random() < 0.5:
        body["shortcut"] = rng.choice(["A", "B", "C", "D", "b", 1])
    if rng.random() < 0.3:
        body["groups"] = rng.choice([1, 2, 3, 32, 64, 0])
    return Mutant(tomli_w.dumps(data), f"block {body['block']!r}")


def wrong_ablation(rng: random.Random, data: dict[str, Any]) -> Mutant | None:
    """Set one to three of He et al. 2016b's fields: a placement on a pre-activation block, a gate bias without a
    gate, a dropout ratio of 1, a gate beside a constant scale, zero-init with a gate, or a valid variant."""
    body = data.setdefault("body", {})
    if not isinstance(body, dict):
        return None
    fields = rng.sample(sorted(ABLATIONS), rng.randint(1, 3))
    for field in fields:
        body[field] = rng.choice(ABLATIONS[field])
    if rng.random() < 0.2:
        body["zero_init_residual"] = True
    if rng.random() < 0.2:
        body["residual"] = False
    return Mutant(tomli_w.dumps(data), f"ablation {', '.join(fields)}")


# --- text mutations ----------------------------------------------------------------------------------


def duplicate_line(rng: random.Random, text: str) -> Mutant | None:
    lines = text.splitlines()
    assignments = [index for index, line in enumerate(lines) if re.match(r"^\s*[\w\"'.-]+\s*=", line)]
    headers = [index for index, line in enumerate(lines) if line.startswith("[") and not line.startswith("[[")]
    pool = assignments + headers
    if not pool:
        return None
    index = rng.choice(pool)
    lines.insert(index + (1 if index in assignments else 0) + rng.randrange(2), lines[index])
    return Mutant("\n".join(lines) + "\n", "duplicate line")


def splice_junk(rng: random.Random, text: str) -> Mutant | None:
    junk = rng.choice(['"', "'", "[", "]", "{", "}", "=", "\\", "\x00", "\x7f", "\u202e", "\ufeff", "#", "\n[", '"""',
                       "'''", "1979-05-27T07:32:00Z", "inf", "nan", "0x", "1_", "+", ".", ",", "\r", "\t"])
    at = rng.randrange(len(text) + 1)
    return Mutant(text[:at] + junk * rng.randint(1, 3) + text[at:], f"junk {junk!r}")


def truncate(rng: random.Random, text: str) -> Mutant | None:
    return Mutant(text[: rng.randrange(len(text) + 1)], "truncate")


def shuffle_lines(rng: random.Random, text: str) -> Mutant | None:
    lines = text.splitlines()
    rng.shuffle(lines)
    return Mutant("\n".join(lines) + "\n", "shuffle lines")


DATA_MUTATIONS: list[Callable[[random.Random, dict[str, Any]], Mutant | None]] = [
    drop_key, retype, out_of_range, misspell, wrong_block, wrong_ablation
]
TEXT_MUTATIONS: list[Callable[[random.Random, str], Mutant | None]] = [
    duplicate_line, splice_junk, truncate, shuffle_lines
]


def mutate(rng: random.Random, *, name: str | None = None, rounds: int = 1) -> Mutant:
    """A shipped spec (`name`, or one chosen at random) with `rounds` random mutations applied."""
    text = SHIPPED[name or rng.choice(sorted(SHIPPED))]
    kinds: list[str] = []
    last = Mutant(text, "")
    for _ in range(rounds):
        mutant: Mutant | None = None
        while mutant is None:
            if rng.random() < 0.6:
                try:
                    data = tomli.loads(text)
                except tomli.TOMLDecodeError:
                    data = None
                if data is not None and _paths(data):
                    mutant = rng.choice(DATA_MUTATIONS)(rng, data)
                    continue
            mutant = rng.choice(TEXT_MUTATIONS)(rng, text)
        text, kinds, last = mutant.text, [*kinds, mutant.kind], mutant
    return Mutant(text, "; ".join(kinds), last.misspelled, last.original)


def random_file(rng: random.Random) -> bytes:
    """Anything a file can hold: raw bytes, random text, or a mutated shipped spec (the bulk)."""
    roll = rng.random()
    if roll < 0.15:
        return rng.randbytes(rng.randrange(400))
    if roll < 0.3:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x10FFFF)])) for _ in range(200)).encode(
            "utf-8", "surrogatepass"
        )
    return mutate(rng, rounds=rng.randint(1, 3)).text.encode("utf-8", "surrogatepass")
