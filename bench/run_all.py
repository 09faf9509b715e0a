"""Run every benchmark and rewrite the summary table of bench/README.md (between its marker comments).

Each benchmark is its own module with its own `main()`; this runner calls their `measure()` functions, turns
the frozen results into one row each (every figure a ratio against a reference measured in the same run) and
adds the environment: CPU, cores, versions, threads, OMP_WAIT_POLICY, date, git commit, load before and after.
A benchmark that fails becomes a "failed" row and the exit code 1; the others still run.

    python bench/run_all.py                           # everything; ~10 minutes on 2 idle cores; rewrites the README
    python bench/run_all.py --only validate analysis  # a selection: prints the table, writes only with --readme
    python bench/run_all.py --quick --readme /tmp/README.md   # toy sizes, seconds per benchmark (the test's run)

GPU figures (bench/gpu_train.py) join the table by themselves where `torch.cuda.is_available()`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP; children inherit it

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import environment  # noqa: E402
import figures  # noqa: E402
from readme_table import Row, markdown, rewrite  # noqa: E402

README = HERE / "README.md"


@dataclass(frozen=True)
class Benchmark:
    name: str
    measure: Callable[[bool], Any]
    """Runs the benchmark (full or quick) and returns its frozen result."""
    row: Callable[[Any], Row]
    what: str
    reference: str
    page: str


def _compiled(quick: bool) -> Any:
    import compiled_vs_torchvision as bench

    if quick:
        return bench.measure(nets=["resnet20"], cifar_batch=8, repeats=2, warmup=1)
    return bench.measure()


def _throughput(quick: bool) -> Any:
    import train_throughput as bench

    if quick:
        return bench.measure(batch=16, steps=2, repeats=2, warmup=1, peak_size=512)
    return bench.measure()


def _validate(quick: bool) -> Any:
    import validate_many as bench

    return bench.measure(count=40, repeats=1) if quick else bench.measure()


def _analysis(quick: bool) -> Any:
    import analysis_speed as bench

    return bench.measure(spec_name="resnet56", repeats=1) if quick else bench.measure()


def _build(quick: bool) -> Any:
    import build_cost as bench

    return bench.measure(spec_name="resnet56", repeats=1, traced=False) if quick else bench.measure()


def _search_overhead(quick: bool) -> Any:
    import search_overhead as bench

    return bench.measure(trials=3) if quick else bench.measure()


def _search_pruner(quick: bool) -> Any:
    import search_pruner as bench

    return bench.measure(trials=1, epochs=1) if quick else bench.measure()


def _gpu(quick: bool) -> Any:
    import torch

    if not torch.cuda.is_available():
        return None
    import gpu_train as bench

    return bench.measure_table(steps=5 if quick else None, log=lambda line: None)


BENCHMARKS = (
    Benchmark("compiled", _compiled, figures.compiled, "compiled nets: forward and training step",
              "torchvision's identical nets (for CIFAR: a hand-written torchvision-style net)",
              "compiled_vs_torchvision.md"),
    Benchmark("throughput", _throughput, figures.throughput, "training throughput, ResNet-20 on CIFAR-sized data",
              "the hand-written net; a plain PyTorch loop over the same model", "train_throughput.md"),
    Benchmark("peak", _throughput, figures.peak, "training's fraction of the float32 matmul peak",
              "the best float32 matmul, same run", "train_throughput.md"),
    Benchmark("validate", _validate, figures.validate, "`archgen validate` on 1,000 generated specs",
              "the same command on one spec (start-up); `tomllib` parsing the same files", "validate_many.md"),
    Benchmark("analysis", _analysis, figures.analysis, "analysis of ResNet-1202 (`archgen.analyze`)",
              "building the module; torch's FlopCounterMode on meta tensors", "resnet1202.md"),
    Benchmark("build", _build, figures.build, "building ResNet-1202: time and peak memory",
              "the parameters' float32 bytes; the hand-written net of the same depth", "resnet1202.md"),
    Benchmark("search-overhead", _search_overhead, figures.search_overhead, "search machinery per trial",
              "a bare `study.optimize` loop, same space and journal storage", "search.md"),
    Benchmark("search-pruner", _search_pruner, figures.search_pruner,
              "`archgen search --trials 50` (digits, 3 epochs per trial)",
              "the same search without a pruner", "search.md"),
    Benchmark("gpu", _gpu, figures.gpu, "GPU: archgen's trainer (bf16, channels_last, CUDA graphs); ResNet-20/56/110, "
              "ResNet-50; 1-8 runs side by side", "a plain PyTorch loop, eager and under reduce-overhead, same GPU",
              "gpu_train.py"),
)
NAMES = [benchmark.name for benchmark in BENCHMARKS]


def run(selected: Sequence[str], *, quick: bool, log: Callable[[str], object] = print) -> tuple[list[Row], bool]:
    """Every benchmark's row (skipped ones say so) and whether all selected ones succeeded."""
    results: dict[Callable[[bool], Any], Any] = {}  # "throughput" and "peak" share one measurement
    rows, ok = [], True
    for benchmark in BENCHMARKS:
        if benchmark.name not in selected:
            rows.append(Row(benchmark.what, benchmark.reference, "not measured in this run", benchmark.page))
            continue
        began = time.perf_counter()
        try:
            if benchmark.measure not in results:
                results[benchmark.measure] = benchmark.measure(quick)
            result, failure = results[benchmark.measure], None
        except Exception as error:  # a broken benchmark must not cost the others' figures
            traceback.print_exc()
            result, failure, ok = None, f"{type(error).__name__}: {error}".splitlines()[0], False
        row = benchmark.row(result) if failure is None else Row("", "", f"**failed**: {failure}", "")
        rows.append(Row(row.what or benchmark.what, row.reference or benchmark.reference, row.result,
                        benchmark.page))
        log(f"{benchmark.name:<16} {time.perf_counter() - began:6.1f} s  {row.result}")
    return rows, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=NAMES, default=None, metavar="NAME",
                        help=f"run only these benchmarks: {', '.join(NAMES)}")
    parser.add_argument("--skip", nargs="+", choices=NAMES, default=[], metavar="NAME", help="leave these out")
    parser.add_argument("--quick", action="store_true", help="toy sizes and few repeats: checks the code, not speed")
    parser.add_argument("--readme", type=Path, default=None,
                        help="the README to rewrite (default bench/README.md, and only when every benchmark ran)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    selected = [name for name in (args.only or NAMES) if name not in args.skip]
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the benchmarks' child processes
    began = time.perf_counter()
    env = environment.capture()
    print(f"running {', '.join(selected)}{' (quick)' if args.quick else ''}", flush=True)
    rows, ok = run(selected, quick=args.quick, log=lambda line: print(line, flush=True))
    lines = env.finished(seconds=time.perf_counter() - began).markdown()
    if args.quick:
        lines.append("- **quick run** (`--quick`): toy sizes and few repeats; these figures check the code, not speed")
    readme = args.readme or (README if selected == NAMES else None)
    if readme is not None:
        rewrite(readme, rows, lines)
        print(f"wrote the table into {readme}")
    print("\n" + markdown(rows, lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
