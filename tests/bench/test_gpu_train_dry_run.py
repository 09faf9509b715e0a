"""bench/gpu_train.py is prepared for a GPU this machine lacks: its --dry-run runs the same code on CPU, rows chosen
by name, under a budget that skips (and names) what no longer fits and cuts what overruns; --first-look's flow runs
on tiny synthetic data. Never asserts on a time: budgets here are either far above or far below any estimate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # its children run side by side on 2 cores
sys.path.insert(0, str(BENCH))

from gpu_budget import Budget, Child, run_children  # noqa: E402
from gpu_measure import Heard  # noqa: E402


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "r.json"
    command = [sys.executable, str(BENCH / "gpu_train.py"), "--dry-run", *args, "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, json.loads(out.read_text())


# --- the budget and the children it runs --------------------------------------------------------------------------


def test_the_budget_admits_what_fits_and_names_what_does_not() -> None:
    now = [0.0]
    budget = Budget(100, clock=lambda: now[0])
    assert budget.admits("resnet20:128", 60)
    now[0] = 50.0
    assert not budget.admits("resnet110:128", 300) and budget.admits("torchrun", 50)
    now[0] = 120.0
    assert budget.left() == 0 and not budget.admits("side-by-side:1", 1)
    assert budget.skipped == ["resnet110:128 (about 300 s, 50 s left)", "side-by-side:1 (about 1 s, 0 s left)"]
    assert Budget(None).admits("anything", 1e9) and Budget(None).left() is None


@pytest.mark.slow
def test_a_child_still_running_when_the_budget_runs_out_is_cut() -> None:
    forever = "import time; print('started', flush=True); time.sleep(600)"
    (child,) = run_children([[sys.executable, "-c", forever]], Budget(1.0))
    assert child.returncode is None and not child.ok and child.why().startswith("cut at the budget after")


@pytest.mark.slow
def test_a_bench_stopped_by_sigterm_leaves_no_child_running(tmp_path: Path) -> None:
    started = tmp_path / "child.pid"
    child = f"import os, time; open({str(started)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    bench = (f"import signal, sys; sys.path.insert(0, {str(BENCH)!r}); from gpu_budget import Budget, run_children; "
             "signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number)); "  # as gpu_train.py does
             f"run_children([[sys.executable, '-c', {child!r}]], Budget(None))")
    parent = subprocess.Popen([sys.executable, "-c", bench])
    for _ in range(1200):  # until the child has started (an event, not a time)
        if started.exists() and started.read_text():
            break
        time.sleep(0.1)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=120) == 128 + signal.SIGTERM
    with pytest.raises(ProcessLookupError):  # killed, and reaped by the bench on its way out
        os.kill(int(started.read_text()), 0)


@pytest.mark.slow
def test_a_failed_child_is_told_by_its_first_error_line_and_keeps_its_output() -> None:
    crash = ("import sys; print('a warning first', file=sys.stderr); "
             "raise ImportError(\"cannot import name 'GraphedStep'\")")
    fine = "print('measured')"
    failed, ok = run_children([[sys.executable, "-c", crash], [sys.executable, "-c", fine]], Budget(None))
    assert failed.why() == "exit 1: ImportError: cannot import name 'GraphedStep'"
    assert "Traceback" in failed.output and "a warning first" in failed.output
    assert ok.ok and ok.output.strip() == "measured"


def test_torchruns_banner_after_the_workers_error_does_not_hide_it() -> None:
    output = ("Traceback (most recent call last):\nImportError: cannot import name 'X'\nE1208 failed (exitcode: 1)\n"
              "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n======\n")
    assert Child(("torchrun",), 1, 3.0, output).why() == "exit 1: ImportError: cannot import name 'X'"


@pytest.mark.parametrize(("device", "plan_notes", "mid_run", "graphs"), [
    ("cuda:0", (), (), True),
    ("cuda:0", ("input fitted to the data",), (), True),
    ("cuda:0", ("each step runs eagerly, not as one CUDA graph: torch.compile manages its own graphs",), (), False),
    ("cuda:0", (), ("each step runs eagerly from now on: its CUDA graph could not be captured (OOM)",), False),
    ("cpu", (), (), False),
], ids=["captured", "other-notes", "eager-from-the-start", "capture-failed-mid-run", "cpu"])
def test_a_row_says_cuda_graphs_by_the_trainers_own_notes(device: str, plan_notes: tuple[str, ...],
                                                           mid_run: tuple[str, ...], graphs: bool) -> None:
    heard = Heard()
    heard.on_start(SimpleNamespace(notes=plan_notes))  # type: ignore[arg-type]  # only its notes are read
    for note in mid_run:
        heard.on_note(note)
    assert heard.graphs(device) is graphs


# --- the dry runs -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_chosen_rows_dry_run_with_two_torchrun_processes(tmp_path: Path) -> None:
    result, table = _bench(tmp_path, "--rows", "resnet20:16", "torchrun")
    assert "| resnet20 | 16 | one process |" in result.stdout
    assert "| resnet20 | 16 | torchrun, 2 processes (DDP over gloo) |" in result.stdout
    assert "resnet50-v1.5" not in result.stdout and table["concurrency"] == []
    rows = table["rows"]
    assert [row["how"].split(",")[0] for row in rows] == ["one process", "torchrun"]
    assert all(row["archgen"] > 0 and row["plain"] > 0 and row["graphs"] is False for row in rows)
    assert rows[1]["plain"] == rows[0]["plain"]  # torchrun's row compares with the one-process row's references
    assert table["failed"] == [] and table["skipped"] == []


@pytest.mark.slow
def test_side_by_side_dry_run(tmp_path: Path) -> None:
    result, table = _bench(tmp_path, "--rows", "side-by-side")
    assert table["rows"] == [] and [run["runs"] for run in table["concurrency"]] == [1, 2]
    assert all(len(run["per_run"]) == run["runs"] for run in table["concurrency"])
    assert "| 2 |" in result.stdout


@pytest.mark.slow
def test_rows_that_no_longer_fit_the_budget_are_skipped_and_named(tmp_path: Path) -> None:
    result, table = _bench(tmp_path, "--rows", "resnet20:16", "torchrun", "side-by-side", "--budget", "1")
    assert table["rows"] == [] and table["concurrency"] == [] and table["budget"] == 1
    assert [name.split(" ")[0] for name in table["skipped"]] == ["resnet20:16", "torchrun", "side-by-side:1",
                                                                 "side-by-side:2"]
    assert "skipped at the budget (1 s): resnet20:16 (about 20 s" in result.stdout


@pytest.mark.slow
def test_rows_are_chosen_by_name_and_an_unknown_one_is_refused_in_one_line() -> None:
    command = [sys.executable, str(BENCH / "gpu_train.py"), "--dry-run", "--rows"]
    listed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "torchrun: about" in listed.stdout and "side-by-side: about" in listed.stdout
    refused = subprocess.run([*command, "resnet21:16"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].endswith("--rows: no row named 'resnet21:16'; the rows are resnet20:16, "
                                                    "resnet50-v1.5:4, torchrun, side-by-side")


@pytest.mark.slow
def test_first_look_dry_run(tmp_path: Path) -> None:
    result, look = _bench(tmp_path, "--first-look")
    assert [run["label"] for run in look["trained"]] == ["with CUDA graphs (the default)", "cuda_graphs = false"]
    assert all(len(run["speeds"]) == 2 and run["graphs"] is False for run in look["trained"])  # the CPU has none
    assert look["row"]["case"]["spec"] == "resnet20" and look["row"]["plain"] > 0
    assert look["tests"] is not None and ("skipped" in look["tests"] or "passed" in look["tests"])
    assert look["failed"] == [] and look["skipped"] == []
    assert "| cuda_graphs = false | no |" in result.stdout
    assert "CUDA tests (tests/training/test_cuda.py): " in result.stdout
