"""`archgen search --from-study`: a finished 50-trial study of the default space (`digits-search`) imported into a
widened space (wider and deeper nets allowed), against searching the widened space from cold: the trials imported,
those trained, and the time saved.

Three `archgen search` subprocesses, each in a fresh folder (bench/search_pruner.py's runner), seed 0: the 50-trial
study; the widened space with `--from-study` of it and `--trials` 50 more than it imports; the same from cold.

    python bench/search_from_study.py                 # ~4 min on 2 idle cores
    python bench/search_from_study.py --trials 20 --more 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from search_pruner import run_search

from archgen.search import record

WIDER = """extends = "digits-search"
name = "wider"
description = "digits-search with wider and deeper nets allowed."

[search]
max_params = 400_000

[search.params]
"body.depths.0" = { low = 1, high = 4 }
"body.depths.1" = { low = 1, high = 4 }
"body.depths.2" = { low = 1, high = 4 }
"body.width" = { choices = [8, 12, 16, 24, 32] }
"""


def imported_run(folder: Path, source: Path, *, trials: int) -> tuple[float, str, list[optuna.trial.FrozenTrial]]:
    """`archgen search wider.toml --from-study SOURCE`: its wall time, its import line, its study's trials."""
    command = [sys.executable, "-m", "archgen", "search", "wider.toml", "--trials", str(trials), "--seed", "0",
               "--study", "imported", "--device", "cpu", "--from-study", str(source)]
    began = time.perf_counter()
    environment = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}  # as run_search
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False,
                            env={**environment, "COLUMNS": "120"})
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        output = result.stderr or result.stdout
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {output[-2000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("imported "))
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / "runs" / "imported" / "journal.log")))
    return seconds, line, optuna.load_study(study_name="imported", storage=storage).trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50, help="trials of the study imported from (default 50)")
    parser.add_argument("--more", type=int, default=25, help="trials the widened search adds (default 25)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "wider.toml").write_text(WIDER)
        first = run_search("digits-search", "first", folder, trials=args.trials, epochs=3, seed=0)
        finished = sum(record.counts(trial) for trial in first.trials)
        total = finished + args.more
        seconds, line, trials = imported_run(folder, folder / "runs" / "first", trials=total)
        cold = run_search("wider.toml", "cold", folder, trials=total, epochs=3, seed=0)
    imported = sum(record.IMPORTED in trial.user_attrs for trial in trials)
    trained = sum(record.counts(trial) and record.IMPORTED not in trial.user_attrs for trial in trials)
    epochs = sum(record.epochs_run(trial) for trial in trials if record.IMPORTED not in trial.user_attrs)
    cold_epochs = sum(record.epochs_run(trial) for trial in cold.trials)
    print(f"the {finished}-trial study: {first.seconds:.0f} s")
    print(line)
    print(f"| widened search to {total} trials | trials imported | trials trained | epochs trained | wall time |")
    print("|---|---:|---:|---:|---:|")
    print(f"| --from-study the {finished}-trial study | {imported} | {trained} | {epochs} | {seconds:.0f} s |")
    print(f"| from cold | 0 | {sum(record.counts(t) for t in cold.trials)} | {cold_epochs} | {cold.seconds:.0f} s |")
    print(f"time saved: {cold.seconds - seconds:.0f} s ({1 - seconds / cold.seconds:.0%}); "
          f"epochs saved: {cold_epochs - epochs} ({1 - epochs / cold_epochs:.0%})")


if __name__ == "__main__":
    main()
