"""`archgen build SPEC --batch-size B [--precision float32|bf16]`: the training-memory estimate under the stage
table and in --json, and the build output left exactly as it was without --batch-size."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from archgen import load_spec
from archgen.analysis import footprint
from archgen.cli.app import app

runner = CliRunner()


def build(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["build", *args], terminal_width=120)
    assert result.exit_code == code, result.output
    return result.output


def cells(text: str, label: str) -> list[str]:
    """The cells of the memory table's row starting with `label`."""
    table = text[text.index("training memory"):]
    line = next(line for line in table.splitlines() if line.strip().startswith(label))
    return re.split(r"\s{2,}", line.strip())


def test_the_estimate_follows_the_table_part_by_part() -> None:
    text = build("resnet18", "--batch-size", "32")
    expected = footprint(load_spec("resnet18"), batch_size=32)
    assert "training memory · batch 32 · float32 on a CPU" in text
    assert text.index("total ") < text.index("training memory") < text.index("reference: resnet18")
    assert cells(text, "params and BN statistics") == ["params and BN statistics", f"{expected.params:,}", "44.6 MiB"]
    assert cells(text, "grads")[1] == f"{expected.grads:,}"
    assert cells(text, "optimiser state (sgd: 1 copy)")[1] == f"{expected.optimizer_state:,}"
    assert cells(text, "activations kept for backward")[1] == f"{expected.activations:,}"
    assert cells(text, "total")[-2:] == [f"{expected.total:,}", f"{expected.total / 2**30:.1f} GiB"]


def test_bf16_and_the_recipe_s_optimiser() -> None:
    text = build("resnet50", "--batch-size", "64", "--precision", "bf16", "--json")
    memory = json.loads(text)["memory"]
    expected = footprint(load_spec("resnet50"), batch_size=64, precision="bf16", device="cuda", graphs=True)
    assert memory == {"batch_size": 64, "precision": "bf16", "device": "cuda", "optimizer": "sgd",
                      "params": expected.params, "grads": expected.grads, "optimizer_state": expected.optimizer_state,
                      "activations": expected.activations, "batch": expected.batch, "workspace": expected.workspace,
                      "allocator": 0, "framework": expected.framework, "graph_pool": expected.graph_pool,
                      "total": expected.total}
    float32 = footprint(load_spec("resnet50"), batch_size=64)
    assert memory["activations"] < 0.6 * float32.activations  # half, plus autocast's bf16 copies of the weights


def test_on_a_gpu_the_captured_graph_s_pool_is_a_second_step() -> None:
    """The recipe's CUDA graph keeps one step's activations, workspace and batch in its own pool while the eager last
    batch and the evaluation take theirs again: a row of its own, in the total; a recipe without graphs has none."""
    text = build("resnet50", "--batch-size", "64", "--precision", "bf16")
    eager = footprint(load_spec("resnet50"), batch_size=64, precision="bf16", device="cuda")
    pool = eager.activations + eager.workspace + eager.batch
    assert cells(text, "CUDA graph's pool (a second step)")[1] == f"{pool:,}"
    assert cells(text, "total")[-2] == f"{eager.total + pool:,}"
    assert "the estimated peak of one captured training step" in text
    on_cpu = build("resnet50", "--batch-size", "64")  # control: a CPU step is never captured
    assert "CUDA graph" not in on_cpu


def test_without_batch_size_the_output_is_as_before() -> None:
    """README and docs show `archgen build` without the estimate (tests/docs runs them)."""
    assert "training memory" not in build("resnet34")
    assert "memory" not in json.loads(build("resnet34", "--json"))


def test_precision_alone_is_a_usage_error() -> None:
    text = build("resnet20", "--precision", "bf16", code=2)
    assert "--precision is the memory estimate's; give --batch-size too" in text
    assert "Invalid value" in build("resnet20", "--batch-size", "0", code=2)
