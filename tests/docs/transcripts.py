"""Console transcripts in docs/*.md: the commands of ```console blocks, their shown output, and how output compares.

The convention is written for doc writers at the top of docs/README.md; this module is its only reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROMPT = "$ "
ELISION = "..."  # a line of its own: any number of output lines left out
EXIT = re.compile(r"\s#\s*exits (\d+)\b")  # `$ archgen validate bad.toml   # exits 1`
FENCE = re.compile(r"^```(\S*)\s*(.*)$")
NUMBERS_VARY = "numbers-vary"  # ```console numbers-vary: every number is compared by shape

# Run-folder stamps (digits-resnet20-20261128-142632) and durations (0.4s, in 42 s) differ on every run.
STAMP = re.compile(r"\d{8}-\d{6}")
DURATION = re.compile(r"(?<![\w.,])\d+(?:\.\d+)? ?s\b")


@dataclass(frozen=True)
class Command:
    """One `$ ` command of a console block, where it is written, and what the docs say it prints."""

    file: Path
    line: int
    text: str
    expected: tuple[str, ...]
    output_line: int
    exit_code: int = 0
    numbers_vary: bool = False

    @property
    def where(self) -> str:
        return f"{self.file.name}:{self.line}"


def commands(path: Path) -> list[Command]:
    """Every command of every ```console block in `path`, in order."""
    found: list[Command] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        index += 1
        if not fence or fence.group(1) == "":
            continue
        body_start = index
        while index < len(lines) and not lines[index].startswith("```"):
            index += 1
        if fence.group(1) == "console":
            found += _block(path, lines[body_start:index], body_start + 1, NUMBERS_VARY in fence.group(2).split())
        index += 1
    return found


def _block(path: Path, lines: list[str], first_line: int, numbers_vary: bool) -> list[Command]:
    found: list[Command] = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith(PROMPT):
            raise ValueError(f"{path.name}:{first_line + index}: console output before any `$ ` command")
        start = index
        text = lines[index][len(PROMPT):]
        while text.endswith("\\") and index + 1 < len(lines):  # a command continued on the next line
            index += 1
            text = text[:-1].rstrip() + " " + lines[index].strip()
        index += 1
        output_start = index
        while index < len(lines) and not lines[index].startswith(PROMPT):
            index += 1
        exit_code = EXIT.search(text)
        found.append(Command(
            file=path, line=first_line + start, text=text, expected=tuple(lines[output_start:index]),
            output_line=first_line + output_start,
            exit_code=int(exit_code.group(1)) if exit_code else 0, numbers_vary=numbers_vary,
        ))
    return found


# --- comparing output ----------------------------------------------------------------------------------


def shape(line: str) -> str:
    """A line with every number as 0, runs of spaces and of table rules as one: what stays when numbers vary.

    A number with thousands separators, decimals, an exponent or a unit prefix (1,029, 0.4, 9.3e-06, 20.6k)
    is one number: tables switch between 8,146 and 20.6k as values grow.
    """
    line = re.sub(r"\d+(?:[,.]\d+)*(?:e[-+]?\d+)?(?:[kMG]\b)?", "0", line)
    line = re.sub(r"─+", "─", line)
    return re.sub(r"\s+", " ", line).strip()


def normal(line: str, *, numbers_vary: bool) -> str:
    """How a line of output is compared: exactly, or by shape when it holds a time or its block's numbers vary."""
    line = STAMP.sub("<stamp>", line.rstrip())
    if numbers_vary or DURATION.search(line):
        return shape(line)
    return line


def matches(expected: tuple[str, ...], actual: list[str], *, numbers_vary: bool) -> bool:
    """Whether `actual` reads as `expected`, where an ELISION line stands for any number of lines."""
    shown = output_lines("\n".join(expected))
    if numbers_vary:
        return _same_text_shape(shown, actual)
    want = [None if line.strip() == ELISION else normal(line, numbers_vary=numbers_vary) for line in shown]
    got = [normal(line, numbers_vary=numbers_vary) for line in actual]
    # fits[i][j]: want[i:] matches got[j:]
    fits = [[False] * (len(got) + 1) for _ in range(len(want) + 1)]
    fits[len(want)][len(got)] = True
    for i in range(len(want) - 1, -1, -1):
        for j in range(len(got), -1, -1):
            if want[i] is None:
                fits[i][j] = fits[i + 1][j] or (j < len(got) and fits[i][j + 1])
            else:
                fits[i][j] = j < len(got) and want[i] == got[j] and fits[i + 1][j + 1]
    return fits[0][0]


def output_lines(text: str) -> list[str]:
    """Output as the docs show it: trailing spaces gone, no trailing blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _same_text_shape(shown: list[str], actual: list[str]) -> bool:
    """Numbers-vary blocks compare as one text: numbers of another length re-wrap a line elsewhere."""
    segments: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELISION:
            segments.append([])
        else:
            segments[-1].append(line)
    texts = [_text_shape(segment) for segment in segments]
    if not any(texts):
        return len(texts) > 1 or not actual
    # whole words only: an elision swallows whole lines, so it never ends inside a shown word
    pattern = "(?: .*? | )".join(re.escape(text) for text in texts if text)
    if not texts[0]:
        pattern = "(?:.*? )?" + pattern
    if len(texts) > 1 and not texts[-1]:
        pattern += "(?: .*)?"
    return re.fullmatch(pattern, _text_shape(actual), flags=re.S) is not None


def _text_shape(lines: list[str]) -> str:
    shaped = [shape(STAMP.sub("<stamp>", line)) for line in lines]
    # a table's run of rows of one shape reads as one row: how many trials complete, pass a budget or are pruned
    # varies with the numbers (another CPU's rounding prunes another trial), so the count varies with them
    kept = [line for index, line in enumerate(shaped) if index == 0 or line != shaped[index - 1]]
    return shape(" ".join(kept))
