"""Answers before imports: a mistyped run folder, record file or data source, and --top 0, refused by `archgen
evaluate` and `archgen predict` without importing torch (one fresh interpreter: the process is what is under test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from archgen.cli import main
codes = []
for args in json.loads(sys.argv[1]):
    try:
        main(args)
    except SystemExit as exit:
        codes.append(exit.code)
print(json.dumps({"codes": codes, "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}),
      file=sys.stderr)
"""


@pytest.mark.slow
def test_mistyped_inputs_answer_before_torch_loads(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.toml").write_text("")  # a run folder's shape is all these checks look at
    commands = [
        ["evaluate", "--help"], ["predict", "--help"],
        ["evaluate", str(tmp_path / "no-such-run")], ["predict", str(tmp_path), "x.png"],
        ["evaluate", str(run), "--data", "mnist"], ["evaluate", str(run), "--preprocessing", str(tmp_path / "no.json")],
        ["predict", str(run), "x.png", "--top", "0"],
    ]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    report = json.loads(done.stderr.splitlines()[-1])
    assert report["codes"] == [0, 0, 1, 1, 1, 1, 1], done.stderr
    assert report["torch"] == [], f"imported: {report['torch'][:5]}"
