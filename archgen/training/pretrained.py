"""Starting a run from trained weights (`train.init`, `archgen train SPEC --init FILE`): fine-tuning.

A safetensors file is parsed, never executed; a torchvision or timm state dict (a pickle) is read with
`torch.load(weights_only=True)` passed explicitly, so a planted pickle cannot run code. The file is read only if its
size (and a zip's declared records) fits what weights for this network can hold and this process can take. Every
tensor must be finite and real; torchvision's and timm's names become archgen's (`archgen.compile.convert_state_dict`);
a classifier of another number of classes is left to its new initialisation, and the message says which tensors
were skipped and why; any other tensor that does not fit is refused in one line naming the first and both shapes
(or dtypes). The run records the file and its sha256.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from torch import Tensor, nn

from archgen.compile import convert_state_dict
from archgen.errors import ArchgenError, RunError, first_line, printable
from archgen.files import Limit, check_zip, read_bounded
from archgen.memory import headroom, size
from archgen.training.checkpoints import WEIGHTS_LIMIT, ZIP, check_values

INIT = "init.json"  # in a run folder: the weights it started from, and their sha256
HEAD = "head.fc."  # the classifier: the one part that may differ (another number of classes)
WRAPPERS = ("state_dict", "model", "model_state_dict", "module")  # where training scripts keep the weights
VALUE_BYTES = 8  # float64, the widest a weights file stores a value in
CLASSIFIER_BYTES = 2**28  # a classifier of other classes: ImageNet-21k's 21,843 x 2,048 in float32 is 179 MB


@dataclass(frozen=True)
class Initial:
    """Weights a run starts from: the file, its sha256, what was loaded and what was skipped (and why)."""

    path: Path
    sha256: str
    tensors: dict[str, Tensor]
    skipped: tuple[str, ...] = ()

    def record(self) -> dict[str, object]:
        return {"path": str(self.path.resolve()), "sha256": self.sha256, "tensors_loaded": len(self.tensors),
                "skipped": list(self.skipped)}

    def note(self) -> str:
        skipped = f"; skipped {'; '.join(self.skipped)}" if self.skipped else ""
        return f"starting from {printable(_near(self.path))} ({len(self.tensors)} tensors){skipped}"


def _near(path: Path) -> str:
    """The path as short as it is unambiguous: relative to the working folder when under it (the recipe holds it
    absolute, so that a run folder's spec.toml retrains from anywhere)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_initial(path: Path, model: nn.Module) -> Initial:
    """The tensors of `path` under archgen's names that `model` takes; refused in one line if they do not fit."""
    limit, shown = weights_limit(model), printable(str(path))
    data = read_bounded(path, limit)
    tensors = _archgen_names(_tensors(data, shown, limit), shown)
    check_values(tensors, shown)
    expected = model.state_dict()
    shared = sorted(set(expected) & set(tensors))
    misfits = [name for name in shared if tensors[name].shape != expected[name].shape]
    wrong = next((name for name in misfits if not name.startswith(HEAD)), None)
    if wrong is not None:  # the most telling first: a tensor both have, of two shapes
        raise RunError(f"{shown} does not fit the network: {wrong} is {tuple(tensors[wrong].shape)} in the file, "
                       f"{tuple(expected[wrong].shape)} in the network")
    kind = next((name for name in shared if tensors[name].is_floating_point() != expected[name].is_floating_point()),
                None)
    if kind is not None:  # loading would cast it silently: an integer tensor is no trained weight
        raise RunError(f"{shown} does not fit the network: {kind} is {tensors[kind].dtype} in the file, "
                       f"{expected[kind].dtype} in the network")
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        where = "the file has no" if missing else "the network has no"
        raise RunError(f"{shown} does not fit the network: {where} {name} "
                       f"{tuple((expected if missing else tensors)[name].shape)}; weights of another architecture?")
    skipped = [f"{name} ({tensors[name].shape[0]} classes in the file, {expected[name].shape[0]} here: a new "
               "classifier)" for name in misfits]
    tensors = {name: tensor for name, tensor in tensors.items() if name not in misfits}
    return Initial(path, hashlib.sha256(data).hexdigest(), tensors, tuple(skipped))


def weights_limit(model: nn.Module) -> Limit:
    """The most an `--init` file for `model` can hold: every value of its state at up to 8 bytes, twice over (a
    training script's checkpoint keeps an optimiser's state beside them), and a classifier of other classes; never
    more than half what this process may still take (the file and its tensors are held at once)."""
    values = sum(tensor.numel() for tensor in model.state_dict().values())
    most = min(2 * VALUE_BYTES * values + CLASSIFIER_BYTES, WEIGHTS_LIMIT.most)
    room = headroom()
    if room.bytes // 2 < most:
        return Limit(room.bytes // 2, f"the memory this process may still take (half of {size(room.bytes)}, "
                                      f"{room.limit}: the file and its tensors are held at once)")
    return Limit(most, f"weights for this network ({values:,} values at 8 bytes, twice over, and a classifier)")


def _tensors(data: bytes, shown: str, limit: Limit) -> dict[str, Tensor]:
    """safetensors (its header is little-endian size, then JSON) or a weights-only pickle of a state dict (a zip
    archive's records checked against `limit` before torch inflates them)."""
    if len(data) > 8 and data[8:9] == b"{":
        try:
            return dict(load_safetensors(data))
        except Exception as error:  # whatever the bytes
            raise RunError(f"{shown} is not a safetensors file ({printable(first_line(error))})") from None
    if data[:4] == ZIP:
        check_zip(data, shown, limit)
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler refuses anything but tensors and plain values
        raise RunError(f"{shown} is neither safetensors nor a plain state dict, refused to load it "
                       f"({printable(first_line(error))})") from None
    for key in WRAPPERS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(t, Tensor) for t in loaded.values()):
        raise RunError(f"{shown} holds no state dict (a mapping of names to tensors)")
    return {str(name).removeprefix("module."): tensor for name, tensor in loaded.items()}  # DDP's prefix


def _archgen_names(tensors: dict[str, Tensor], shown: str) -> dict[str, Tensor]:
    """archgen's own names as they are; torchvision's and timm's (`layer1.0.conv1.weight`) converted."""
    if any(name.startswith(("stem.", "stages.")) for name in tensors):
        return tensors
    try:
        return convert_state_dict(tensors, source="torchvision")  # timm keeps torchvision's names
    except ArchgenError as error:
        raise RunError(f"{shown}: {error}") from None
