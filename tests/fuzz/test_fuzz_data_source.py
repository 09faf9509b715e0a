"""Any text as `--data`: `parse_source` returns a source that prints back to itself, or raises one DataError line
that is printable (what the user typed shown escaped). Never another exception: no traceback on odd input.

Unicode digits are the bug this fuzzer guards: str.isdigit() accepts '²', '３' and '٣', which int() then rejects
or reads; sizes take ASCII digits only. Budgets: `examples(n)` (fuzz_settings.py).
"""

from __future__ import annotations

from collections import Counter

import pytest
from fuzz_settings import Tally, examples
from hypothesis import given
from hypothesis import strategies as st

from archgen.data import parse_source
from archgen.errors import DataError

TALLY = Tally()
ODD_DIGITS = "²³¹⁰３２٣߂५𝟙"  # superscripts, fullwidth, Arabic-Indic, NKo, Devanagari, mathematical bold
_number = st.one_of(st.integers(0, 10**6).map(str), st.text(st.sampled_from("0123456789" + ODD_DIGITS), max_size=25),
                    st.text(max_size=8), st.integers(10**17, 10**40).map(str))
_shape = st.lists(_number, min_size=1, max_size=4).map("x".join)
_option = st.tuples(st.sampled_from(["classes", "train", "val", "colour", ""]), st.sampled_from(["=", ""]),
                    _number).map("".join)
_synthetic = st.tuples(st.one_of(_shape, _option), st.lists(_option, max_size=3)).map(
    lambda parts: "synthetic:" + ",".join([parts[0], *parts[1]]))
_any = st.one_of(st.text(max_size=60), _synthetic, st.sampled_from(["digits", "cifar10", "imagefolder", "synthetic"])
                 .flatmap(lambda kind: st.text(max_size=30).map(lambda rest: f"{kind}:{rest}")))


def parses_or_one_line(text: str, outcomes: Counter[str] | None = None) -> None:
    """The fuzzers' predicate: a source that prints back to itself, or one printable DataError line (counted in
    `outcomes`, if given)."""
    outcomes = Counter() if outcomes is None else outcomes
    if any(character in ODD_DIGITS for character in text):
        outcomes["odd digits"] += 1
    try:
        source = parse_source(text)
    except DataError as error:
        message = str(error)
        assert message and message.isprintable(), message  # printable: no newline, no ESC, no U+202E
        outcomes["refused"] += 1
        return
    assert parse_source(str(source)) == source
    outcomes["parsed"] += 1


@examples(600)
@given(_any)
def test_any_data_text_parses_or_is_one_printable_line(text: str) -> None:
    parses_or_one_line(text, TALLY.of(test_any_data_text_parses_or_is_one_printable_line))


def test_the_fuzzer_parsed_some_refused_some_and_tried_odd_digits() -> None:
    """Control: the fuzzer above reached both outcomes and fed Unicode digits (a predicate passing everything, or a
    strategy that never reached the synthetic grammar, would show here)."""
    outcomes = TALLY.after(test_any_data_text_parses_or_is_one_printable_line)
    assert outcomes["parsed"] > 30 and outcomes["refused"] > 100 and outcomes["odd digits"] > 30, outcomes


@pytest.mark.parametrize("text", [
    "synthetic:3x³²x32", "synthetic:３x32x32", "synthetic:3x32x32,train=٣", "synthetic:3x32x32,classes=²",
    "synthetic:3x32x32,train=" + "9" * 5000,  # int() refuses more than 4,300 digits
    "synthetic:3x32x32,classes=" + "1" * 19, "synthetic:3x8x8,classes=1000000000",
    "imagefolder:\0", "imagefolder:~no-such-user-here/x", "\x1b[2J", "synthetic:\u202e3x8x8",
])
def test_odd_text_found_before(text: str) -> None:
    """Each of these ended in a traceback, a raw control character, or billions of templates drawn."""
    with pytest.raises(DataError) as error:
        parse_source(text)
    assert str(error.value).isprintable()


def test_the_predicate_rejects_a_message_on_two_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: a DataError carrying a raw newline fails the predicate."""
    def raw(text: str) -> None:
        raise DataError(f"--data {text}: unknown")

    monkeypatch.setattr(f"{__name__}.parse_source", raw)
    with pytest.raises(AssertionError):
        parses_or_one_line("a\nb")
