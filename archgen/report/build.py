"""`archgen build`'s output: the per-stage table, the paper's numbers beside archgen's, and the same facts as JSON.

Renders a `Complexity` (and a training `Footprint`) the analysis computed; counts nothing itself. MACs are
multiply-accumulates of convs and the classifier; FLOPs are printed only as 2 x MACs, and say so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from archgen.analysis import Complexity, PartCost, StageCost
from archgen.analysis.footprint import OPTIMIZER_COPIES, Footprint
from archgen.reference import PAPER_NUMBERS, PaperNumbers
from archgen.spec.schema import NetSpec

_STEMS = {
    "cifar": "3x3 conv",
    "imagenet": "7x7/2 conv, 3x3/2 pool",
    "deep": "3 x 3x3 conv, 3x3/2 pool",
}


@dataclass(frozen=True)
class ReferenceCheck:
    """One published number beside archgen's: `matches` is None where there is nothing to compare."""

    quantity: str
    ours: str
    theirs: str
    matches: bool | None


def build_report(complexity: Complexity, spec: NetSpec, *, blocks: bool = False,
                 memory: Footprint | None = None) -> RenderableType:
    """The stage table with its totals, the training memory at a batch size if given, and, for a paper network,
    the reference table."""
    parts: list[RenderableType] = [stage_table(complexity, spec, blocks=blocks)]
    if memory is not None:
        parts += [Text(""), memory_table(memory)]
    numbers = PAPER_NUMBERS.get(spec.reference or "")
    if numbers is not None and spec.reference is not None:
        checks = reference_checks(complexity, numbers)
        parts += [Text(""), reference_table(spec.reference, checks), Text(f"source: {numbers.source}")]
    return Group(*parts)


def stage_table(complexity: Complexity, spec: NetSpec, *, blocks: bool = False) -> Table:
    """stem, every stage (and with `blocks`, every block), head, total and FLOPs: shapes, params, MACs.

    Fits an 80-column terminal: what every row shares (block kind, shortcuts) is in the title.
    """
    body = spec.body
    shortcuts = f"shortcut {body.shortcut}" if body.residual else "plain: no shortcuts"
    title = " · ".join(
        (complexity.name, f"{_shape(complexity.input_shape)} → {spec.input.classes} classes", body.block, shortcuts,
         *_variants(spec))
    )
    caption = (
        f"stem: {_STEMS[spec.stem.kind]} · head: {spec.head.pool} pool, fc\n"
        f"MACs: convs and fc · FLOPs = 2 × MACs = {complexity.flops:,}"
    )
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left",
                  padding=(0, 1), pad_edge=False, collapse_padding=True)
    table.add_column("part", overflow="fold")
    for header in ("blocks", "width", "stride", "output", "params", "MACs"):
        table.add_column(header, justify="right", overflow="fold")
    stem_stride = complexity.input_shape[1] // complexity.stem.out_shape[1]
    table.add_row("stem", "", str(spec.stem.width), str(stem_stride), *_cost(complexity.stem))
    for stage in complexity.stages:
        width = str(stage.width) if stage.width == stage.out_width else f"{stage.width}→{stage.out_width}"
        table.add_row(stage_path(stage), str(stage.depth), width, str(stage.stride), *_cost(stage))
        if blocks:
            for block in stage.blocks:
                table.add_row(block.path, "", "", "", *_cost(block), style="dim")
    table.add_row("head", "", "", "", *_cost(complexity.head), end_section=True)
    depth = str(sum(stage.depth for stage in complexity.stages))
    table.add_row("total", depth, "", "", "", f"{complexity.params:,}", f"{complexity.macs:,}", style="bold")
    millions = complexity.params / 1e6
    table.add_row("", "", "", "", "", f"{millions:.{1 if millions >= 10 else 2}f} M", f"{complexity.macs / 1e9:.3f} G")
    return table


# The estimate's parts, as the memory table and the JSON name them.
_MEMORY_ROWS = (
    ("params", "params and BN statistics"),
    ("grads", "grads"),
    ("optimizer_state", "optimiser state"),
    ("activations", "activations kept for backward"),
    ("batch", "batch (images, labels)"),
    ("workspace", "backward workspace"),
    ("allocator", "allocator's retained memory"),
    ("framework", "framework"),
    ("graph_pool", "CUDA graph's pool (a second step)"),
)


_DEVICES = {"cpu": "CPU", "cuda": "GPU"}


def memory_table(memory: Footprint) -> Table:
    """The training memory estimate, part by part, for one process at one batch size."""
    copies = OPTIMIZER_COPIES[memory.optimizer]
    where = f"{memory.precision}{' autocast' if memory.precision == 'bf16' else ''} on a {_DEVICES[memory.device]}"
    labels = dict(_MEMORY_ROWS, optimizer_state=f"optimiser state ({memory.optimizer}: {copies} "
                                                f"cop{'y' if copies == 1 else 'ies'})")
    table = Table(title=f"training memory · batch {memory.batch_size} · {where}",
                  caption="the estimated peak of one captured training step" if memory.graph_pool
                  else "the estimated peak of one eager training step",
                  box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left", padding=(0, 1), pad_edge=False,
                  collapse_padding=True)
    for header in ("", "bytes", ""):
        table.add_column(header, justify="left" if not header else "right", overflow="fold")
    for field, label in labels.items():
        value = getattr(memory, field)
        if field == "graph_pool" and not value:
            continue  # an eager step: no graph
        table.add_row(label, f"{value:,}", _bytes(value), end_section=field == _MEMORY_ROWS[-1][0] or
                      (field == "framework" and not memory.graph_pool))
    table.add_row("total", f"{memory.total:,}", _bytes(memory.total), style="bold")
    return table


def _bytes(count: int) -> str:
    """Bytes for people: `3.9 GiB`, `120.5 MiB`."""
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def reference_table(name: str, checks: tuple[ReferenceCheck, ...]) -> Table:
    """Each published number beside archgen's, with ✓ or ✗ where they can be compared."""
    table = Table(title=f"reference: {name}", box=box.SIMPLE_HEAD, title_justify="left",
                  padding=(0, 1), pad_edge=False, collapse_padding=True)
    for header in ("", "archgen", "reference", ""):
        table.add_column(header, justify="left" if not header else "right", overflow="fold")
    for check in checks:
        mark = "" if check.matches is None else "[green]✓[/]" if check.matches else "[red]✗[/]"
        table.add_row(check.quantity, check.ours, check.theirs, mark)
    return table


def reference_checks(complexity: Complexity, numbers: PaperNumbers) -> tuple[ReferenceCheck, ...]:
    """archgen's numbers beside the reference's: exact counts must be equal, printed ones equal at their precision."""
    gmacs = complexity.macs / 1e9
    checks = [_exact("params", complexity.params, numbers.params)]
    if numbers.macs is not None:
        checks.append(_exact("MACs", complexity.macs, numbers.macs))
    if numbers.gmacs is not None:
        checks.append(ReferenceCheck("GMACs", f"{gmacs:.3f}", f"{numbers.gmacs:.3f}", round(gmacs, 3) == numbers.gmacs))
    if numbers.paper_params is not None:
        checks.append(_printed("paper: params", complexity.params / 1e6, numbers.paper_params.removesuffix("M"), "M"))
    if numbers.paper_gflops is not None:
        checks.append(_printed("paper: GFLOPs (mult-adds)", gmacs, str(numbers.paper_gflops), ""))
    if numbers.paper_error is not None:
        checks.append(ReferenceCheck("paper: error %", "", f"{numbers.paper_error:.2f}", None))
    return tuple(checks)


def _exact(quantity: str, ours: int, theirs: int) -> ReferenceCheck:
    return ReferenceCheck(quantity, f"{ours:,}", f"{theirs:,}", ours == theirs)


def _printed(quantity: str, ours: float, printed: str, unit: str) -> ReferenceCheck:
    """A number as the paper prints it: ours matches when it is within one unit of the printed last digit."""
    decimals = len(printed.partition(".")[2])
    matches = abs(ours - float(printed)) < 10.0**-decimals
    return ReferenceCheck(quantity, f"{ours:.3f}{unit}", f"{printed}{unit}", matches)


def build_json(complexity: Complexity, spec: NetSpec, *, memory: Footprint | None = None) -> str:
    """The same facts as the table, for scripts: totals, stem, stages with their blocks, head, reference; and the
    training memory in bytes when a batch size was given."""
    data: dict[str, Any] = {
        "name": complexity.name,
        "input_shape": list(complexity.input_shape),
        "classes": spec.input.classes,
        "residual": spec.body.residual,
        "params": complexity.params,
        "macs": complexity.macs,
        "gmacs": round(complexity.macs / 1e9, 3),
        "flops": complexity.flops,
        "flops_note": "FLOPs = 2 x MACs; MACs are multiply-accumulates of convs and the classifier",
        "stem": _part(complexity.stem),
        "stages": [_stage(stage) for stage in complexity.stages],
        "head": _part(complexity.head),
        "reference": _reference(complexity, spec),
    }
    if memory is not None:
        data["memory"] = {"batch_size": memory.batch_size, "precision": memory.precision, "device": memory.device,
                          "optimizer": memory.optimizer, **{field: getattr(memory, field) for field, _ in _MEMORY_ROWS},
                          "total": memory.total}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def stage_path(stage: StageCost) -> str:
    return f"stages.{stage.index}"


def _cost(part: PartCost | StageCost) -> tuple[str, str, str]:
    return _shape(part.out_shape), f"{part.params:,}", f"{part.macs:,}"


_PLACEMENTS = {"bn_after_addition": "BN after addition", "relu_before_addition": "ReLU before addition",
               "relu_only_preactivation": "ReLU-only pre-activation", "full_preactivation": "full pre-activation"}


def _variants(spec: NetSpec) -> list[str]:
    """He et al. 2016b's ablations the net makes, in its words (nothing for the original block)."""
    body = spec.body
    words = [_PLACEMENTS[body.placement]] if body.placement not in (None, "original") else []
    if body.gate != "none":
        words.append(f"{body.gate.replace('_', '-')} gating, b_g {body.resolved_gate_bias:g}")
    if body.shortcut_scale != 1.0 or body.branch_scale != 1.0:
        words.append(f"scaled: shortcut {body.shortcut_scale:g}, branch {body.branch_scale:g}")
    if body.shortcut_dropout:
        words.append(f"shortcut dropout {body.shortcut_dropout:g}")
    return words


def _shape(shape: tuple[int, int, int]) -> str:
    return "×".join(map(str, shape))


def _part(part: PartCost) -> dict[str, Any]:
    return {"path": part.path, "out_shape": list(part.out_shape), "params": part.params, "macs": part.macs}


def _stage(stage: StageCost) -> dict[str, Any]:
    return {
        "path": stage_path(stage),
        "depth": stage.depth,
        "width": stage.width,
        "out_width": stage.out_width,
        "stride": stage.stride,
        "out_shape": list(stage.out_shape),
        "params": stage.params,
        "macs": stage.macs,
        "blocks": [_part(block) for block in stage.blocks],
    }


def _reference(complexity: Complexity, spec: NetSpec) -> dict[str, Any] | None:
    numbers = PAPER_NUMBERS.get(spec.reference or "")
    if numbers is None:
        return None
    checks = reference_checks(complexity, numbers)
    return {
        "name": spec.reference,
        "source": numbers.source,
        "params": numbers.params,
        "macs": numbers.macs,
        "gmacs": numbers.gmacs,
        "paper_params": numbers.paper_params,
        "paper_gflops": numbers.paper_gflops,
        "paper_error": numbers.paper_error,
        "checks": [
            {"quantity": check.quantity, "archgen": check.ours, "reference": check.theirs, "matches": check.matches}
            for check in checks
        ],
    }
