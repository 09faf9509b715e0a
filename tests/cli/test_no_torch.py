"""Answers before imports: `--help`, a mistyped or refused `train`, and `validate` of every shipped spec never import
torch (one fresh interpreter for all of them: the process boundary is what is under test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    ["--help"],
    ["train", "--help"],
    ["--version"],
    ["train", "--data", "mnist"],
    ["train", "--data", "cifar10:/no/such/folder"],
    ["train", "--set", "train.lr=-1"],
    ["train", "--epochs", "0"],
    ["train", "no-such-spec"],
    ["train", "--init", "/no/such/weights.safetensors"],
    ["build", "resnet50", "--set", "body.depths=[3,4,6,3]", "--json"],
    ["validate", str(ROOT / "archgen" / "specs")],
    ["validate", str(ROOT / "tests" / "corpus" / "invalid")],
]
PROBE = """
import json, sys
from archgen.cli import main
codes = []
for args in json.loads(sys.argv[1]):
    try:
        main(args)
    except SystemExit as exit:
        codes.append(exit.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "timm", "tensorboard", "optuna"))
print(json.dumps({"codes": codes, "torch": heavy}), file=sys.stderr)
"""


@pytest.mark.slow
def test_help_typos_refusals_and_validate_never_import_torch(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(COMMANDS)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    report = json.loads(done.stderr.splitlines()[-1])
    assert report["codes"] == [0, 0, 0, 1, 1, 1, 2, 1, 1, 0, 0, 1], done.stderr
    assert report["torch"] == [], f"imported: {report['torch'][:5]}"
