"""Evaluating a trained net on a split of any data source, exactly as training's validation does: the same loaders
(`archgen.data.make_loaders`, with the run's recorded normalisation), the same engine and the same scores
(`archgen.training.steps.scores`, ten crops included), so the run's own validation split gives its recorded final
validation error exactly. Adds what an epoch's validation does not keep: top-5, per-class errors, a confusion matrix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from archgen.data import ImageData, StreamedData, load_data, make_loaders, parse_source
from archgen.data.folder import VAL_FOLDERS
from archgen.data.images import Split
from archgen.data.loader import Loader
from archgen.devices import deterministic, select_device
from archgen.errors import DataError, printable
from archgen.inference.loaded import TrainedNet
from archgen.spec.schema import EvalCrop
from archgen.training.engine import Engine, build_engine
from archgen.training.record import read_metrics, read_summary
from archgen.training.steps import scores

SplitName = Literal["val", "test", "train"]
TOP = 5  # top-5 error, reported where there are more classes than this
MAX_CONFUSION = 1000  # classes a confusion matrix is counted for (a million cells)
HELD_OUT = {"val": VAL_FOLDERS, "test": ("test",), "train": VAL_FOLDERS}  # an image folder's split folder names
GREY = (19595, 38470, 7471)  # PIL's RGB -> L weights, in 1/65536 (ITU-R 601-2 luma, rounded as PIL rounds)


@dataclass(frozen=True)
class Evaluation:
    """A trained net's errors on one split: top-1 (and top-5 past 5 classes), per class, and the confusion matrix."""

    data: str
    split: SplitName
    crop: EvalCrop
    images: int
    loss: float
    error: float
    """Top-1: the share of images whose most probable class is not their label."""
    top5_error: float | None
    class_names: tuple[str, ...]
    class_images: tuple[int, ...]
    class_errors: tuple[float | None, ...]
    """Per class (by label): the share of its images classified as another class (None: no images of it)."""
    confusion: tuple[tuple[int, ...], ...] | None
    """confusion[label][predicted] image counts (None past MAX_CONFUSION classes)."""
    recorded: float | None
    """The run's recorded final validation error, where this is the run's own validation (data, split, crops)."""
    notes: tuple[str, ...] = ()


def evaluate(net: TrainedNet, *, data: str | None = None, split: SplitName = "val", crop: EvalCrop | None = None,
             device: str = "auto") -> Evaluation:
    """`net` on `split` of `data` (default: the data its run trained on), with its recorded preprocessing; `crop`
    overrides the run's validation crops."""
    spec, record = net.spec, net.record
    recipe = spec.train if crop is None else spec.train.model_copy(update={"eval_crop": crop})
    source = str(parse_source(data).resolved()) if data is not None else spec.train.data
    loaded, notes = _split(source, split, size=spec.input.size, seed=recipe.seed)
    loaded, adapted = _adapted(loaded, net)
    where = select_device(device)
    world = int(read_summary(net.run).get("world_size", 1) or 1)
    loaders = make_loaders(loaded, batch_size=max(1, recipe.batch_size // world), augment=recipe, seed=recipe.seed,
                           device=where, normalisation=(record.mean, record.std))
    engine = build_engine(net.model, recipe, device=where, steps_per_epoch=1, compile=False)
    with deterministic(where):
        counts = _count(engine, loaders.val, len(record.class_names))
    own = source == spec.train.data and split == "val" and recipe.eval_crop == spec.train.eval_crop
    return counts.evaluation(data=source, split=split, crop=recipe.eval_crop, class_names=record.class_names,
                             recorded=_recorded(net.run) if own else None, notes=net.notes + notes + adapted)


def _split(source: str, split: SplitName, *, size: int, seed: int) -> tuple[ImageData | StreamedData, tuple[str, ...]]:
    """The data with the asked split as its validation split."""
    kind = parse_source(source).kind
    if split == "test" and kind not in ("imagefolder", "stream", "cifar10"):
        raise DataError(f"{printable(source)}: no test split (it has a training and a validation split: --split val "
                        "or train)")
    loaded = load_data(source, size=size, seed=seed, held_out=HELD_OUT[split])
    if split == "train":  # the training images, shown as validation images are (no augmentation)
        if isinstance(loaded, StreamedData):  # (one replace per type: mypy cannot replace on a union)
            return dataclasses.replace(loaded, val=loaded.train), ()
        return dataclasses.replace(loaded, val=loaded.train), ()
    if split == "test" and kind == "cifar10":
        return loaded, ("cifar10's test split (test_batch) is the validation split archgen trains with",)
    return loaded, ()


def _adapted(data: ImageData | StreamedData, net: TrainedNet) -> tuple[ImageData | StreamedData, tuple[str, ...]]:
    """The data as the network takes it: its classes must be the run's; its images are converted to the network's
    channels and (held) resized to its size as training would, each said once."""
    record, source = net.record, printable(data.source)
    if tuple(data.class_names) != record.class_names:
        theirs, mine = list(data.class_names), list(record.class_names)
        raise DataError(f"{source}: classes {_few(theirs)}; the run was trained on {_few(mine)}: evaluation needs the "
                        "same classes")
    notes = []
    if data.channels != record.channels:
        notes.append(f"{source} has {data.channels}-channel images; the network takes {record.channels}: "
                     "converted as the training loaders convert")
        data = _with_channels(data, record.channels, source)
    if isinstance(data, ImageData) and data.size != record.size:
        notes.append(f"resizing {source}'s {data.size}x{data.size} images to the network's {record.size}x{record.size}")
        data = data.resized(record.size)
    return data, tuple(notes)


def _with_channels(data: ImageData | StreamedData, channels: int, source: str) -> ImageData | StreamedData:
    if isinstance(data, StreamedData):
        return dataclasses.replace(data, channels=channels)  # decoded straight to them, as the loaders decode
    if {data.channels, channels} != {1, 3}:
        raise DataError(f"{source}: {data.channels}-channel images cannot become the network's {channels} channels")
    convert = _to_rgb if channels == 3 else _to_grey
    return dataclasses.replace(data, train=convert(data.train), val=convert(data.val))


def _to_rgb(split: Split) -> Split:
    return Split(split.images.expand(-1, 3, -1, -1).contiguous(), split.labels)  # PIL's L -> RGB: copies


def _to_grey(split: Split) -> Split:
    weights = torch.tensor(GREY, dtype=torch.int64).view(1, 3, 1, 1)
    grey = ((split.images.long() * weights).sum(1, keepdim=True) + 0x8000) >> 16
    return Split(grey.to(torch.uint8), split.labels)


def _few(names: list[str]) -> str:
    shown = ", ".join(printable(name) for name in names[:6])
    return f"[{shown}{f' and {len(names) - 6} more' if len(names) > 6 else ''}]"


@dataclass
class _Counts:
    loss_sum: float
    wrong: float
    wrong5: float
    seen: int
    cells: torch.Tensor  # (classes * classes,) label-major, or (classes,) errors per class past MAX_CONFUSION
    per_class: torch.Tensor

    def evaluation(self, *, data: str, split: SplitName, crop: EvalCrop, class_names: tuple[str, ...],
                   recorded: float | None, notes: tuple[str, ...]) -> Evaluation:
        classes, seen = len(class_names), max(self.seen, 1)
        totals = self.per_class.tolist()
        confusion = self.cells.view(classes, classes).tolist() if classes <= MAX_CONFUSION else None
        wrong_per_class = ([total - row[index] for index, (row, total) in enumerate(zip(confusion, totals,
                                                                                         strict=True))]
                           if confusion is not None else self.cells.tolist())
        return Evaluation(
            data=data, split=split, crop=crop, images=self.seen, loss=self.loss_sum / seen,
            error=self.wrong / seen, top5_error=self.wrong5 / seen if classes > TOP else None,
            class_names=class_names, class_images=tuple(totals),
            class_errors=tuple(wrong / total if total else None for wrong, total in zip(wrong_per_class, totals,
                                                                                       strict=True)),
            confusion=tuple(map(tuple, confusion)) if confusion is not None else None, recorded=recorded, notes=notes)


@torch.no_grad()
def _count(engine: Engine, loader: Loader, classes: int) -> _Counts:
    """One pass over the split, summed as `archgen.training.steps.evaluate` sums (float64 on the device)."""
    engine.model.eval()
    device = engine.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, wrong, wrong in the top 5
    confusion = classes <= MAX_CONFUSION
    cells = torch.zeros(classes * classes if confusion else classes, dtype=torch.int64, device=device)
    per_class = torch.zeros(classes, dtype=torch.int64, device=device)
    seen = 0
    for images, labels in loader.batches(0):
        with engine.autocast():
            logits = scores(engine, images)
            loss = engine.criterion(logits.float(), labels)
        predicted = logits.argmax(1)
        top = logits.topk(min(TOP, classes), dim=1).indices
        in_top = (top == labels[:, None]).any(1)
        sums += torch.stack([loss.double() * len(labels), (predicted != labels).sum().double(),
                             (~in_top).sum().double()])
        if confusion:
            cells += torch.bincount(labels * classes + predicted, minlength=classes * classes)
        else:
            cells += torch.bincount(labels[predicted != labels], minlength=classes)
        per_class += torch.bincount(labels, minlength=classes)
        seen += len(labels)
    loss_sum, wrong, wrong5 = sums.tolist()
    return _Counts(loss_sum, wrong, wrong5, seen, cells.cpu(), per_class.cpu())


def _recorded(run: Path) -> float | None:
    """The run's last recorded validation error (what `archgen evaluate` on its own validation split gives)."""
    history = read_metrics(run) if (run / "metrics.jsonl").is_file() else ()
    return history[-1].val_error if history else None
