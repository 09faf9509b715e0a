"""bench/run_all.py --quick runs every benchmark at toy sizes and writes the table into a README copy.

Checks that every row and the environment block are there and that the prose outside the markers survives;
never a time (figures are for the page, not for assertions).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from readme_table import BEGIN, END, Row, rewrite  # noqa: E402


def _readme(tmp_path: Path) -> Path:
    readme = tmp_path / "README.md"
    readme.write_text(f"# prose above\n\n{BEGIN}\nold table\n{END}\n\nprose below\n")
    return readme


def test_rewrite_keeps_the_prose(tmp_path: Path) -> None:
    readme = _readme(tmp_path)
    rewrite(readme, [Row("a net", "torchvision", "1.00 ×", "page.md")], ["- machine: here"])
    text = readme.read_text()
    assert text.startswith("# prose above\n\n" + BEGIN) and text.endswith(END + "\n\nprose below\n")
    assert "old table" not in text and "| a net | torchvision | 1.00 × | [page.md](page.md) |" in text


def test_rewrite_refuses_a_readme_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no markers here\n")
    with pytest.raises(ValueError, match="lacks the markers"):
        rewrite(readme, [], [])
    assert readme.read_text() == "no markers here\n"


@pytest.mark.slow
def test_quick_run_writes_every_row_and_the_environment(tmp_path: Path) -> None:
    committed = (BENCH / "README.md").read_text()
    readme = _readme(tmp_path)
    command = [sys.executable, str(BENCH / "run_all.py"), "--quick", "--readme", str(readme)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = readme.read_text()
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    import run_all

    assert len(table) == len(run_all.BENCHMARKS)
    for line, benchmark in zip(table, run_all.BENCHMARKS, strict=True):
        assert f"[{benchmark.page}]({benchmark.page}) |" in line
        assert "failed" not in line and "not measured" not in line, line
    assert "×" in table[0] and "ms per spec" in table[3] and "GMACs" in table[4] and "MiB" in table[5]
    for field in ("- machine: ", "- software: Python 3.", "torch ", "optuna ", "OMP_WAIT_POLICY=", "commit ",
                  "load average", "**quick run**"):
        assert field in text, field
    assert text.startswith("# prose above") and text.endswith("prose below\n")
    assert (BENCH / "README.md").read_text() == committed  # the committed table is never touched by tests


def test_a_failing_benchmark_becomes_a_failed_row(monkeypatch: pytest.MonkeyPatch) -> None:
    import run_all

    def broken(quick: bool) -> object:
        raise RuntimeError("no such spec\nsecond line")

    fine = run_all.Benchmark("fine", lambda quick: 2.0, lambda value: Row("", "", f"{value:.1f} ×", ""), "w", "r", "p")
    fails = run_all.Benchmark("fails", broken, lambda value: Row("", "", "unused", ""), "w2", "r2", "p2")
    skipped = run_all.Benchmark("skipped", broken, lambda value: Row("", "", "unused", ""), "w3", "r3", "p3")
    monkeypatch.setattr(run_all, "BENCHMARKS", (fine, fails, skipped))
    rows, ok = run_all.run(["fine", "fails"], quick=True, log=lambda line: None)
    assert not ok
    assert rows == [Row("w", "r", "2.0 ×", "p"), Row("w2", "r2", "**failed**: RuntimeError: no such spec", "p2"),
                    Row("w3", "r3", "not measured in this run", "p3")]
