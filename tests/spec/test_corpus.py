"""The malformed-spec corpus: every file in tests/corpus/invalid is refused with exactly the expected problems.

Each expectation is `[other-file]:line[:col]: field: message fragment`, checked as the start of one problem line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from archgen.analysis import SPEC_CHECKS
from archgen.errors import SpecError
from archgen.spec import read_spec

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "invalid"

EXPECTED: dict[str, tuple[str, ...]] = {
    # reading the file
    "empty": (": file is empty; a spec needs at least name, [input], [stem] and [body]",),
    "bom": (":1:1: file starts with a UTF-8 byte-order mark (BOM)",),
    "invalid_utf8": (":3:19: not valid UTF-8 (byte 0xe9)",),
    "nul_byte": (":2:17: invalid TOML: Illegal character",),
    "syntax_error": (":2:7: invalid TOML: Expected ']' at the end of a table declaration",),
    "duplicate_key": (":2:14: invalid TOML: Cannot overwrite a value",),
    "deep_nesting": (":2: arrays or tables nested too deeply (archgen reads at most 32 levels)",),
    "deep_tables": (":2: arrays or tables nested too deeply",),
    "huge_integer_literal": (":3: integer too large to read (more than 4300 digits)",),
    # fields
    "comments_only": (":1: input: required, but not given", ":1: stem: required", ":1: body: required"),
    "missing_tables": (":1: input: required, but not given", ":1: stem: required", ":1: body: required"),
    "unknown_key": (":12: body.dpeths: unknown key 'dpeths'; did you mean 'depths'? (allowed: block, depths,",),
    "unknown_table": (":1: body: required, but not given", ":10: bdy: unknown key 'bdy'; did you mean 'body'?"),
    "bad_enum": (":11: body.block: string 'bottelneck' is not allowed; did you mean 'bottleneck'? (choose from",),
    "shortcut_enum": (":15: body.shortcut: string 'a' is not allowed; did you mean 'A'?",),
    "head_pool_enum": (":16: head.pool: string 'mean' is not allowed; did you mean 'max'? (choose from 'avg', 'max')",),
    "bad_reference": (":2: reference: string 'resnet35' is not allowed; did you mean 'resnet34',",),
    "string_for_int": (":3: input.size: must be an integer, got string '32'",),
    "bool_for_int": (":13: body.width: must be an integer, got true",),
    "float_for_int": (":4: input.classes: must be an integer, got 10.0",),
    "name_not_string": (":1: name: must be a string, got 3",),
    "mixed_array": (":13: body.depths.1: must be an integer, got string '3'",),
    "table_for_value": (":2: stem: must be a table, got string 'cifar'",),
    "array_for_table": (":3: input: must be a table, got an array",),
    "huge_integer": (":13: body.width: must be less than or equal to 8192, got 123456789012345678",),
    "absurd_width": (":14: body.width: must be less than or equal to 8192, got 100000",),
    "nan": (":16: train.lr: must be a finite number, got nan",),
    "inf": (":16: head.dropout: must be a finite number, got -inf",),
    "zero_and_negative": (
        ":4: input.size: must be greater than or equal to 1, got 0",
        ":5: input.classes: must be greater than or equal to 1, got -1",
        ":13: body.depths.1: must be greater than or equal to 1, got 0",
    ),
    "empty_depths": (":13: body.depths: must have at least 1 item, not 0",),
    "too_many_stages": (":13: body.depths: must have at most 8 items, not 9",),
    "stage_missing_stride": (":19: body.stages.1.stride: required, but not given",),
    "stage_stride_zero": (":16: body.stages.0.stride: must be greater than or equal to 1, got 0",),
    "long_string_value": (":1: name: must have at most 64 characters, got string 'xxxxxxxxxxxxxxxxxxxx",),
    "bad_train": (
        ":16: train.lr: must be greater than 0, got -0.1",
        ":17: train.milestones.1: must be less than 1, got 1.5",
        ":18: train.optimizer: string 'adam' is not allowed; did you mean 'adamw'?",
        ":19: train.epochs: must be an integer, got 10.5",
    ),
    "many_problems": (
        ":1: name: must start with a letter or digit",
        ":6: input.colour: unknown key 'colour' (allowed: channels, size, classes)",
        ":9: stem.kind: string 'imagnet' is not allowed; did you mean 'imagenet'?",
        ":15: body.width: must be an integer, got string '16'",
    ),
    # hostile characters and sizes: escaped, shortened, on the line that wrote them
    "bidi_override_key": (":15: body.wid\\u202eth: unknown key 'wid\\u202eth'; did you mean 'width'?",),
    "zero_width_name": (":2: name: must start with a letter or digit and hold only letters, digits, '_', '-' and '.', "
                        "got string 'res\\u200bnet20'",),
    "control_char_key": (
        ":3: a\\nb: unknown key 'a\\nb' (allowed:",
        ":4: bell\\x07: unknown key 'bell\\x07' (allowed:",
    ),
    "long_key": (":3: " + "k" * 57 + "...: unknown key '" + "k" * 95 + "...' (allowed: name,",),
    "input_size_2_31": (":5: input.size: must be less than or equal to 4096, got 2147483648",),
    # extends
    "extends_cycle_a": ("extends_cycle_b.toml:2: extends: extends cycle: extends_cycle_a.toml",),
    "extends_cycle_b": ("extends_cycle_a.toml:2: extends: extends cycle: extends_cycle_b.toml",),
    "extends_self": (":1: extends: extends cycle: extends_self.toml -> extends_self.toml",),
    "extends_missing_parent": (":1: extends: 'no_such_parent.toml': no such file",),
    "extends_escape": (":1: extends: '../../../archgen/specs/cifar/resnet20.toml' leaves the spec's folder",),
    "extends_absolute": (":1: extends: must be a path relative to this file, got the absolute path '/etc/hosts'",),
    "extends_unknown_name": (":1: extends: no shipped spec named 'resnet35'; did you mean",),
    "extends_not_string": (":1: extends: must name a spec file or a shipped spec, got 3",),
    "extends_bad_override": (":6: body.depths.2: must be greater than or equal to 1, got 0",),
    "broken_parent": (":15: body.width: must be greater than or equal to 1, got 0",),
    "extends_broken_parent": ("broken_parent.toml:15: body.width: must be greater than or equal to 1, got 0",),
    # rules
    "both_body_forms": (":12: body.depths: write the body either by rule (depths + width) or as [[body.stages]]",),
    "no_body_form": (":11: body.depths: required: the body needs depths and width", ":11: body.width: required"),
    "bottleneck_only_field": (":15: body.expansion: applies to bottleneck blocks only, but block = 'basic'",),
    "groups_not_dividing": (
        ":8: stem.width: must be divisible by groups=3, since it feeds stages.0's grouped 3x3 conv; got 16",
        ":13: body.width: stages.0 width must be divisible by groups=3, got 16",
        ":13: body.width: stages.1 width must be divisible by groups=3, got 32",
        ":13: body.width: stages.2 width must be divisible by groups=3, got 64",
    ),
    "option_a_narrowing": (":14: body.width: shortcut A zero-pads channels, so widths must not decrease",),
    "input_too_small": (":13: body.depths.2: the map is down to 1x1 before stages.2, too small for its stride 2",),
    "depth_mismatch": (":2: depth: declared depth 100 does not match the body: 6n+2 with n = 16",),
    "absurd_depth": (":13: body.depths: 3000 blocks in all is more than archgen builds (at most 2000",),
    "too_many_params": (":11: body: the network would have 150,241,494,858 parameters, more than archgen builds",),
}


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(path.stem for path in CORPUS.glob("*.toml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_is_refused_with_the_expected_problems(name: str) -> None:
    path = CORPUS / f"{name}.toml"
    with pytest.raises(SpecError) as caught:
        read_spec(path, checks=SPEC_CHECKS)
    lines = [str(problem) for problem in caught.value.problems]
    assert len(lines) == len(EXPECTED[name]), lines
    for line, expected in zip(lines, EXPECTED[name], strict=True):
        other_file, _, rest = expected.partition(":")
        where = path.parent / other_file if other_file else path
        assert line.startswith(f"{where}:{rest}"), line
        assert "\n" not in line and line.isprintable() and len(line) < 1000
