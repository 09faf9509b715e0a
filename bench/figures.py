"""Each benchmark's frozen result as the README's one-line figure: ratios first, absolute numbers beside them.

Computes nothing but the wording; `what`/`reference`/`page` left empty mean the runner's defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from readme_table import Row

if TYPE_CHECKING:
    from analysis_speed import AnalysisSpeed
    from build_cost import BuildCost
    from compiled_vs_torchvision import Comparison
    from gpu_train import GpuTable
    from paired import Paired
    from search_overhead import Overhead
    from search_pruner import PrunerComparison
    from train_throughput import Throughput
    from validate_many import Validation

MIB = 2**20


def _figure(result: str, what: str = "") -> Row:
    return Row(what, "", result, "")


def _paired(timing: Paired) -> str:
    return f"{timing.ratio:.2f} × (IQR {timing.ratio_iqr[0]:.2f}–{timing.ratio_iqr[1]:.2f})"


def compiled(result: Comparison) -> Row:
    low, high = result.ratio_range
    iqr_low, iqr_high = result.iqr_range
    nets = ", ".join(dict.fromkeys(f"{row.net} at {row.size}²" for row in result.rows))
    return _figure(
        f"time {low:.2f}–{high:.2f} × the reference's over {len(result.rows)} rows (> 1: archgen slower); "
        f"widest IQR {iqr_low:.2f}–{iqr_high:.2f}, {result.repeats} paired repeats",
        what=f"compiled nets: forward and training step ({nets})",
    )


def throughput(result: Throughput) -> Row:
    return _figure(
        f"images/s: net {_paired(result.model)}, trainer {_paired(result.trainer)} (> 1: archgen faster); "
        f"archgen {result.trainer.first:,.0f} img/s",
        what=f"training throughput, {result.spec} on CIFAR-sized data (batch {result.batch})",
    )


def peak(result: Throughput) -> Row:
    return _figure(
        f"{result.peak_fraction:.0%}: {result.training_flops / 1e9:.0f} of {result.peak_flops / 1e9:.0f} GFLOP/s "
        f"(training FLOPs = 6 × {result.macs / 1e6:.1f} M MACs per image)"
    )


def validate(result: Validation) -> Row:
    return _figure(
        f"{result.per_spec_seconds * 1e3:.2f} ms per spec = {result.parse_ratio:.0f} × parsing its TOML; "
        f"{result.folder_seconds:.2f} s for all, start-up {result.one_seconds:.2f} s of it "
        f"({result.startup_share:.0%})",
        what=f"`archgen validate` on {result.count:,} generated specs ({result.extending:,} with extends)",
    )


def analysis(result: AnalysisSpeed) -> Row:
    return _figure(
        f"{result.analysis_seconds * 1e3:.1f} ms; building takes {result.build_ratio:,.0f} ×, FlopCounterMode "
        f"{result.counter_ratio:,.0f} × as long (counts agree: {result.macs / 1e9:.2f} GMACs)",
        what=f"analysis of {result.spec} (`archgen.analyze`)",
    )


def build(result: BuildCost) -> Row:
    ours = result.archgen
    return _figure(
        f"{ours.seconds * 1e3:.0f} ms, peak +{ours.peak_bytes / MIB:.0f} MiB = {result.memory_ratio:.2f} × the "
        f"{result.param_bytes / MIB:.0f} MiB of parameters; {result.time_ratio:.2f} × the hand-written net's time, "
        f"{result.reference_memory_ratio:.2f} × its memory",
        what=f"building {result.spec} ({ours.params / 1e6:.1f} M params), fresh process: time and peak memory",
    )


def search_overhead(result: Overhead) -> Row:
    return _figure(
        f"+{result.extra_seconds * 1e3:.0f} ms per trial: {result.ratio:.1f} × the bare loop's "
        f"{result.bare_seconds * 1e3:.0f} ms ({result.trials} trials, instant fake trainer)"
    )


def search_pruner(result: PrunerComparison) -> Row:
    ours, none = result.pruned, result.unpruned
    plural = "s" if result.epochs_per_trial > 1 else ""
    best = "" if ours.best is None or none.best is None else f"; best accuracy {ours.best:.1%} vs {none.best:.1%}"
    return _figure(
        f"{ours.seconds:.0f} s with the median pruner = {result.time_ratio:.2f} × the {none.seconds:.0f} s without; "
        f"{result.epochs_saved:.0%} fewer epochs ({ours.epochs} vs {none.epochs}){best}",
        what=f"`archgen search --trials {result.trials}` (digits, {result.epochs_per_trial} epoch{plural} per trial)",
    )


def gpu(result: GpuTable | None) -> Row:
    if result is None:
        return _figure("not run: no GPU lent (`torch.cuda.is_available()` is False); `python bench/gpu_train.py` "
                       "on a GPU, `--dry-run` on CPU")
    first = result.rows[0]
    compiled = f", {first.archgen / first.compiled:.2f} × reduce-overhead" if first.compiled else ""
    shared = result.concurrency[-1] if result.concurrency else None
    together = "" if shared is None else (f"; {shared.runs} runs side by side: "
                                          f"{shared.aggregate / result.concurrency[0].aggregate:.1f} × one run")
    best = max(row.peak_fraction for row in result.rows)
    return _figure(f"{first.case.spec} batch {first.case.batch}: {first.archgen:,.0f} images/s = "
                   f"{first.archgen / (first.plain or first.archgen):.2f} × a plain loop{compiled}{together}; up to "
                   f"{best:.0%} of the {result.dtype} matmul peak ({result.device})")
