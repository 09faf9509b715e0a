"""Writing a compiled network as ONNX, TorchScript or a torch.export ExportedProgram, checked on reload.

The file is written into a temporary folder beside its destination, reloaded by its own runtime
(onnxruntime, torch.jit, torch.export) and compared with the eager model; only a file that passes
is renamed into place. Metadata (text by key: a trained net's preprocessing) goes where each format keeps it:
ONNX's metadata_props, TorchScript's extra files, the ExportedProgram archive's extra files. Knows nothing of
specs: it takes any `nn.Module` returning tensors.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from archgen.errors import ArchgenError, first_line
from archgen.files import place, refuse_existing

ExportFormat = Literal["onnx", "torchscript", "exported-program"]

TOLERANCE = 1e-4
"""Largest accepted |exported - eager| for outputs of magnitude <= 1 (scaled by max(1, max |eager|) above).

Another runtime's float32 kernels (onnxruntime's convs) sum in another order: ResNets differ by
~1e-6 after it, so 1e-4 leaves room for deep nets and still catches any real fault.
"""

SEED = 0
"""Seed of the random input the check feeds both models."""

Writer = Callable[[nn.Module, Tensor, Path, bool, Mapping[str, str]], None]
Runner = Callable[[Path, Tensor], list[Tensor]]


@dataclass(frozen=True)
class ExportResult:
    """A checked export: where it is, how far its outputs are from the eager model's, how big it is."""

    path: Path
    format: ExportFormat
    max_abs_diff: float
    bytes: int
    """Size on disk, external weight files (ONNX over 2 GB) included."""
    dynamic_batch: bool = False
    """Whether the file accepts any batch size (ONNX, ExportedProgram and TorchScript, where export allows)."""
    metadata: tuple[str, ...] = ()
    """The metadata keys the file holds (`read_metadata` reads them back)."""


def export_model(
    model: nn.Module, *, format: ExportFormat, out: Path, input_shape: tuple[int, int, int, int],
    replace: bool = False, metadata: Mapping[str, str] | None = None, uint8_input: bool = False,
) -> ExportResult:
    """Write `model` (in eval mode) to `out` and check the reloaded file against it on a seeded random input.

    metadata: text by key, written into the file (`read_metadata`). uint8_input: the model takes uint8 images
    (its own normalisation inside), so the check feeds it random uint8 pixels.
    Raises ArchgenError, and leaves nothing at `out`, when the export fails or its outputs differ
    from the eager model's by more than TOLERANCE. An existing `out` is replaced only with `replace`.
    """
    if format not in _WRITERS:
        raise ArchgenError(f"export format must be one of {', '.join(_WRITERS)}, got {format!r}")
    out = Path(out)
    x = _random_input(model, input_shape, uint8=uint8_input)
    training = model.training
    model.eval()
    try:
        return _export_checked(model, format, out, x, replace=replace, metadata=dict(metadata or {}))
    finally:
        model.train(training)


def read_metadata(path: Path, format: ExportFormat, keys: Sequence[str]) -> dict[str, str]:
    """The metadata `keys` an export holds (those it has), read back by the format's own library."""
    if format == "onnx":
        import onnx

        props = {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}
        return {key: props[key] for key in keys if key in props}
    extra = dict.fromkeys(keys, "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if format == "torchscript":
            torch.jit.load(str(path), _extra_files=extra)
        else:
            torch.export.load(str(path), extra_files=extra)
    return {key: value.decode() if isinstance(value, bytes) else value for key, value in extra.items() if value}


def _export_checked(model: nn.Module, format: ExportFormat, out: Path, x: Tensor, *, replace: bool,
                    metadata: dict[str, str]) -> ExportResult:
    _check_destination(out)
    refuse_existing(out, force=replace)
    with torch.no_grad():
        expected = _attempt(format, "running the model", lambda: _flat(model(x)))
    try:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as folder:
            staged = Path(folder) / out.name
            dynamic = _write(model, format, staged, x, metadata)
            actual = _attempt(format, "reloading the file", lambda: _RUNNERS[format](staged, x))
            diff = _max_abs_diff(expected, actual, format)
            size = sum(path.stat().st_size for path in Path(folder).iterdir())
            _move_into_place(Path(folder), out, replace=replace)
    except OSError as error:  # an unwritable folder, a full disk
        raise ArchgenError(f"cannot export to {out}: {error.strerror or error}") from error
    return ExportResult(path=out, format=format, max_abs_diff=diff, bytes=size, dynamic_batch=dynamic,
                        metadata=tuple(metadata))


def _random_input(model: nn.Module, input_shape: tuple[int, int, int, int], *, uint8: bool) -> Tensor:
    if len(input_shape) != 4 or not all(isinstance(n, int) and n >= 1 for n in input_shape):
        raise ArchgenError(f"export input_shape must be four positive integers (N, C, H, W), got {input_shape!r}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(SEED)
    if uint8:
        return torch.randint(0, 256, input_shape, generator=generator, dtype=torch.uint8).to(device)
    return torch.randn(input_shape, generator=generator).to(device)


def _check_destination(out: Path) -> None:
    if not out.parent.is_dir():
        raise ArchgenError(f"cannot export to {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ArchgenError(f"cannot export to {out}: it is a folder")


def _write(model: nn.Module, format: ExportFormat, path: Path, x: Tensor, metadata: dict[str, str]) -> bool:
    """Export with a dynamic batch dimension, or with the example's static shape where that fails."""
    example = x if x.shape[0] > 1 else torch.cat([x, x])  # batch 1 would specialise the batch dimension
    try:
        _WRITERS[format](model, example, path, True, metadata)
        return True
    except Exception:
        _attempt(format, "export", lambda: _WRITERS[format](model, x, path, False, metadata))
        return False


def _attempt(format: ExportFormat, step: str, action: Callable[[], list[Tensor] | None]) -> list[Tensor]:
    """Run one step of the export, turning torch's multi-page errors into their first line."""
    try:
        return action() or []
    except ArchgenError:
        raise
    except Exception as error:
        raise ArchgenError(f"{format} export failed at {step}: {type(error).__name__}: {first_line(error)}") from error


def _max_abs_diff(expected: list[Tensor], actual: list[Tensor], format: ExportFormat) -> float:
    shapes = [tuple(t.shape) for t in expected], [tuple(t.shape) for t in actual]
    if shapes[0] != shapes[1]:
        raise ArchgenError(f"{format} export returns outputs of shapes {shapes[1]}, the model {shapes[0]}")
    diff = max((float((e.cpu() - a.cpu()).abs().max()) for e, a in zip(expected, actual, strict=True)), default=0.0)
    scale = max([1.0, *(float(e.abs().max()) for e in expected)])
    if not diff <= TOLERANCE * scale:  # also refuses NaN
        raise ArchgenError(
            f"{format} export differs from the model by {diff:.3g} (tolerance {TOLERANCE * scale:.3g}); nothing written"
        )
    return diff


def _move_into_place(folder: Path, out: Path, *, replace: bool) -> None:
    """Move the checked files beside `out`, the main file last: once `out` exists, it is complete."""
    staged = sorted(folder.iterdir(), key=lambda p: p.name == out.name)
    for path in staged:
        refuse_existing(out.parent / path.name, force=replace)  # ONNX's external weights too, before any move
    for path in staged:
        place(path, out.parent / path.name, replace=replace)


def _flat(outputs: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [outputs] if isinstance(outputs, Tensor) else list(outputs)


# --- the three formats -------------------------------------------------------------------------


def _batch_dim(dynamic: bool) -> tuple[dict[int, Any], ...] | None:
    return ({0: torch.export.Dim("batch")},) if dynamic else None


def _write_onnx(model: nn.Module, x: Tensor, path: Path, dynamic: bool, metadata: Mapping[str, str]) -> None:
    # torch >= 2.9 exports through torch.export (dynamo=True, the default; needs onnxscript).
    program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=_batch_dim(dynamic), verbose=False)
    assert program is not None
    program.save(str(path))  # weights beside it, in <name>.data, only past ONNX's 2 GB limit
    if metadata:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)  # external weights stay where they are
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(path))


def _run_onnx(path: Path, x: Tensor) -> list[Tensor]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x.cpu().numpy()})
    return [torch.from_numpy(output) for output in outputs]


def _write_torchscript(model: nn.Module, x: Tensor, path: Path, dynamic: bool, metadata: Mapping[str, str]) -> None:
    if not dynamic:  # scripting keeps every shape dynamic; tracing is the fallback with fixed shapes
        scripted = torch.jit.trace(model, x)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still the TorchScript route
            scripted = torch.jit.script(model)
    scripted.save(str(path), _extra_files=dict(metadata))


def _run_torchscript(path: Path, x: Tensor) -> list[Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path), map_location=x.device)
    with torch.no_grad():
        return _flat(loaded(x))


def _write_exported_program(model: nn.Module, x: Tensor, path: Path, dynamic: bool,
                            metadata: Mapping[str, str]) -> None:
    program = torch.export.export(model, (x,), dynamic_shapes=_batch_dim(dynamic))
    torch.export.save(program, str(path), extra_files=dict(metadata))


def _run_exported_program(path: Path, x: Tensor) -> list[Tensor]:
    with torch.no_grad():
        return _flat(torch.export.load(str(path)).module()(x))


_WRITERS: dict[str, Writer] = {
    "onnx": _write_onnx,
    "torchscript": _write_torchscript,
    "exported-program": _write_exported_program,
}
_RUNNERS: dict[str, Runner] = {
    "onnx": _run_onnx,
    "torchscript": _run_torchscript,
    "exported-program": _run_exported_program,
}
