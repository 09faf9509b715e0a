"""Valid specs mutated: every shipped spec with keys dropped, duplicated, retyped, misspelled, values out of
range, wrong block kinds, and hostile `extends` targets. Each mutant is a located SpecError, or a valid spec
that analyses and writes back out to an equal spec.

`pytest tests/fuzz --hypothesis-profile=deep` runs 40x the examples with fresh seeds (see fuzz_settings.py).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import tomli
from fuzz_settings import Tally, examples, load_or_located
from hypothesis import given
from hypothesis import strategies as st
from mutations import SHIPPED, Mutant, misspell, mutate, out_of_range, wrong_ablation

from archgen.analysis import analyze
from archgen.errors import Problem
from archgen.spec import NetSpec, read_spec
from archgen.spec.writer import dump_spec

TALLY = Tally()


def _check(text: str, *, folder: Path, name: str = "mutant.toml",
           outcomes: Counter[str] | None = None) -> tuple[NetSpec | None, list[Problem]]:
    """Load `text` as a spec file in `folder`: a valid spec (checked further) or located problems, nothing else
    (counted in `outcomes`, if given)."""
    path = folder / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    spec, problems = load_or_located(path, Counter() if outcomes is None else outcomes)
    if spec is None:
        return None, problems
    complexity = analyze(spec)
    assert complexity.params > 0 and complexity.macs > 0
    written = dump_spec(spec)
    (folder / "written.toml").write_text(written, encoding="utf-8")
    assert read_spec(folder / "written.toml") == spec
    return spec, []


@pytest.mark.slow
@examples(800)
@given(st.randoms(use_true_random=False), st.integers(1, 3))
def test_mutated_shipped_specs(rng: random.Random, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _check(mutate(rng, rounds=rounds).text, folder=Path(folder), outcomes=TALLY.of(test_mutated_shipped_specs))


@examples(150)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(SHIPPED)))
def test_misspelled_keys_get_a_did_you_mean(rng: random.Random, name: str) -> None:
    outcomes = TALLY.of(test_misspelled_keys_get_a_did_you_mean)
    mutant = misspell(rng, tomli.loads(SHIPPED[name]))
    if mutant is None or mutant.misspelled is None:
        return
    with tempfile.TemporaryDirectory() as folder:
        spec, problems = _check(mutant.text, folder=Path(folder), outcomes=outcomes)
    assert spec is None, mutant.kind  # every key of a shipped spec is meaningful: its typo is unknown
    unknown = [problem for problem in problems if f"unknown key {mutant.misspelled!r}" in problem.message]
    assert unknown and all("did you mean" in problem.message for problem in unknown), (mutant.kind, problems)
    outcomes["did-you-mean"] += 1


@pytest.mark.slow  # runs test_mutated_shipped_specs where it did not run
def test_the_mutations_produced_both_outcomes() -> None:
    """Control: mutants were refused (the checks ran) and some stayed valid (the valid branch ran)."""
    outcomes = TALLY.after(test_mutated_shipped_specs, test_misspelled_keys_get_a_did_you_mean)
    assert outcomes["invalid"] > 100 and outcomes["valid"] > 5 and outcomes["did-you-mean"] > 20, outcomes


def test_ablation_mutants_are_located_problems_or_valid_specs(tmp_path: Path) -> None:
    """He et al. 2016b's fields set at random on a post-, a pre-activation and a gated net: each mutant is refused
    with located problems or analyses and writes back; both happen (a control on the mutation itself)."""
    outcomes: Counter[str] = Counter()
    for seed in range(120):
        rng = random.Random(seed)
        base = rng.choice(["resnet20", "resnet164", "resnet110-exclusive-gating-b-6", "resnet164-original"])
        mutant = wrong_ablation(rng, tomli.loads(SHIPPED[base]))
        assert mutant is not None
        spec, problems = _check(mutant.text, folder=tmp_path)
        outcomes["valid" if spec is not None else "invalid"] += 1
        assert spec is not None or problems, mutant.kind
    assert outcomes["valid"] > 5 and outcomes["invalid"] > 30, outcomes


def test_the_did_you_mean_check_can_fail(tmp_path: Path) -> None:
    """Control: a key far from every field gets no hint, so the assertion above is not vacuous."""
    _, problems = _check(SHIPPED["resnet20"].replace("width = 16\n", "zzzzzzzz = 16\n", 1), folder=tmp_path)
    assert any("unknown key 'zzzzzzzz'" in p.message and "did you mean" not in p.message for p in problems)


# --- hostile extends -------------------------------------------------------------------------------------

CIFAR = SHIPPED["resnet20"]


def _extends(folder: Path, target: str) -> list[Problem]:
    spec, problems = _check(f'extends = "{target}"\nname = "child"\n', folder=folder, name="child.toml")
    assert spec is None, target
    return problems


def _one(problems: list[Problem], fragment: str) -> str:
    [problem] = problems
    assert problem.field == "extends" and problem.line == 1 and fragment in problem.message, str(problem)
    return problem.message


def test_extends_cycle_of_three(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "child.toml"\n')
    _one(_extends(tmp_path, "a.toml"), "extends cycle: child.toml -> a.toml -> b.toml -> child.toml")


def test_extends_a_missing_parent(tmp_path: Path) -> None:
    _one(_extends(tmp_path, "gone.toml"), "'gone.toml': no such file")


@pytest.mark.parametrize("target", ["../x.toml", "sub/../../x.toml", "../" * 40 + "etc/passwd.toml"])
def test_extends_escaping_the_folder(tmp_path: Path, target: str) -> None:
    (tmp_path / "sub").mkdir()
    _one(_extends(tmp_path / "sub", target), "leaves the spec's folder")


@pytest.mark.parametrize("target", ["/etc/hosts", "/dev/zero", "//x.toml"])
def test_extends_an_absolute_path(tmp_path: Path, target: str) -> None:
    _one(_extends(tmp_path, target), "must be a path relative to this file")


def test_extends_a_folder(tmp_path: Path) -> None:
    (tmp_path / "parent.toml").mkdir()
    _one(_extends(tmp_path, "parent.toml"), "no such file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_extends_a_fifo_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.toml")
    _one(_extends(tmp_path, "pipe.toml"), "no such file")


def test_extends_dev_zero_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    _one(_extends(tmp_path, "zero.toml"), "zero.toml")


def test_extends_a_symlink_leaving_the_folder(tmp_path: Path) -> None:
    (tmp_path / "out.toml").write_text(CIFAR)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link.toml").symlink_to(tmp_path / "out.toml")
    _one(_extends(tmp_path / "in", "link.toml"), "leaves the spec's folder")


def test_extends_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop2.toml")
    (tmp_path / "loop2.toml").symlink_to(tmp_path / "loop.toml")
    _one(_extends(tmp_path, "loop.toml"), "loop.toml")


@pytest.mark.parametrize("target", ["resnet35", "", "a\\u0000b", "x" * 5000, "a\\nb", "CON", ".", "..", "~/x.toml"])
def test_extends_odd_names(tmp_path: Path, target: str) -> None:
    [problem] = _extends(tmp_path, target)
    assert problem.field == "extends" and "\n" not in str(problem) and len(str(problem)) < 400, str(problem)


@pytest.mark.parametrize("name", ["digits-pareto", "plain110", "resnet50c", "resnet152-v1.5"])
def test_extends_shipped_chains_from_any_folder(tmp_path: Path, name: str) -> None:
    spec, _ = _check(f'extends = "{name}"\nname = "child"\n', folder=tmp_path)
    assert spec is not None and spec.body == read_spec(name).body


@examples(60)
@given(st.randoms(use_true_random=False))
def test_mutated_parent_of_a_valid_child(rng: random.Random) -> None:
    """A mutated spec as the parent: its problems name the parent's file and say which child extended it."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "parent.toml").write_text(mutate(rng).text, encoding="utf-8", errors="surrogatepass")
        _check('extends = "parent.toml"\nname = "child"\n', folder=Path(folder))


def test_mutant_records_what_it_did() -> None:
    """Control for the mutation engine: a seeded mutant differs from its source and says how."""
    mutant = mutate(random.Random(1), name="resnet34")
    assert isinstance(mutant, Mutant) and mutant.text != SHIPPED["resnet34"] and mutant.kind


def _written_line(text: str, loc: tuple[str, ...]) -> int | None:
    """The line of `key = ...` in `[table]` (or at the top) of tomli-w's output."""
    *tables, key = loc
    header = f"[{'.'.join(tables)}]" if tables else None
    inside = header is None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("["):
            inside = line == header
        elif inside and line.startswith(f"{key} = "):
            return number
    return None


@examples(200)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(SHIPPED)))
def test_out_of_range_values_are_located_on_their_line(rng: random.Random, name: str) -> None:
    """The problem of a value set out of range names the field and the very line that writes it."""
    outcomes = TALLY.of(test_out_of_range_values_are_located_on_their_line)
    mutant = out_of_range(rng, tomli.loads(SHIPPED[name]))
    if mutant is None:  # a variant that only names its parent (plain110) has no number to set
        return
    loc = tuple(mutant.kind.removeprefix("out of range ").split("."))
    keys = tuple(part for part in loc if not part.isdigit())
    if "search" in loc or "stages" in loc:  # inline tables and arrays of tables: other layouts
        return
    with tempfile.TemporaryDirectory() as folder:
        _, problems = _check(mutant.text, folder=Path(folder))
    at_field = [problem for problem in problems if problem.field == ".".join(loc)]
    line = _written_line(mutant.text, keys)
    assert all(problem.line == line for problem in at_field), (mutant.kind, line, [str(p) for p in at_field])
    outcomes["located-on-line"] += len(at_field)


def test_the_line_check_ran() -> None:
    """Control: many out-of-range problems were compared with their line (the property above is not vacuous)."""
    outcomes = TALLY.after(test_out_of_range_values_are_located_on_their_line)
    assert outcomes["located-on-line"] > 20, outcomes
