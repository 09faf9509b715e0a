"""Using a trained net on real images: evaluate against the recorded error, the ONNX export against predict, and
predict's time per image against a plain torchvision transform and forward.

  python bench/using_a_trained_net.py [--root /tmp/archgen-use-bench] [--train 5000] [--val 1000] [--epochs 2]
                                      [--repeats 15] [--run RUN] [--out bench/using_a_trained_net.md]

Unpacks CIFAR-10's JPEGs (../shared/data/cifar10-jpeg-{train,test}.zip) into --root, as an image folder of --train
training images (the first of each class) and --val validation images (the first of each class of the test set);
trains specs/cifar/resnet20.toml on it for --epochs (`archgen train`, a subprocess), then measures:
1. `archgen evaluate RUN --json` on the run's own validation split against its recorded final validation error
   (they must be equal: the same images through the same loaders);
2. the run's ONNX export (`archgen build --export onnx --weights`, float input and --with-preprocessing's uint8
   input) run by onnxruntime on 100 validation images, against `archgen predict`'s probabilities: the largest
   difference;
3. `archgen.inference.predict` on 100 image files against a plain torchvision pipeline (PIL open and convert,
   Resize, CenterCrop, ToImage, ToDtype, Normalize with the run's mean and std, batches of the same size, the same
   model's forward and softmax, top 5): time per image, alternated (bench/paired.py), as a ratio (> 1: archgen
   slower).
Prints a Markdown report (write it to bench/using_a_trained_net.md with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image
from torchvision.transforms import v2 as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import alternate

from archgen.inference import load, predict
from archgen.inference.prediction import BATCH

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
IMAGES = 100  # images of the ONNX comparison and of the timing


def unpack(root: Path, *, train: int, val: int) -> Path:
    """root/cifar10/train/<class>/ (the first train // 10 of each class) and root/cifar10/val/<class>/ (the test
    set's first val // 10 of each class); reused when already there."""
    folder = root / f"cifar10-{train}-{val}"
    if (folder / "done").exists():
        return folder
    for archive, split, count, inner in (("cifar10-jpeg-train.zip", "train", train, "train"),
                                         ("cifar10-jpeg-test.zip", "val", val, "test")):
        with zipfile.ZipFile(SHARED / archive) as zipped:
            names = sorted(n for n in zipped.namelist() if n.endswith(".jpg") and f"/{inner}/" in n)
            by_class: dict[str, list[str]] = {}
            for name in names:
                by_class.setdefault(name.split("/")[-2], []).append(name)
            for label, members in by_class.items():
                target = folder / split / label
                target.mkdir(parents=True, exist_ok=True)
                for name in members[: count // len(by_class)]:
                    (target / Path(name).name).write_bytes(zipped.read(name))
    (folder / "done").write_text("")
    return folder


def archgen(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "archgen", *args], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "COLUMNS": "200"})
    if result.returncode:
        raise SystemExit(f"archgen {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def train(data: Path, runs: Path, epochs: int) -> tuple[Path, float]:
    started = time.perf_counter()
    archgen("train", "specs/cifar/resnet20.toml", "--data", f"imagefolder:{data}", "--epochs", str(epochs),
            "--out", str(runs))
    run = max(runs.iterdir(), key=lambda path: path.stat().st_mtime)
    return run, time.perf_counter() - started


def evaluated(run: Path) -> dict[str, object]:
    result = json.loads(archgen("evaluate", str(run), "--json"))
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    return {"evaluate": result["error"], "recorded": last["val_error"], "equal": result["error"] == last["val_error"],
            "images": result["images"], "loss": result["loss"], "recorded loss": last["val_loss"]}


def onnx_difference(run: Path, files: list[Path], root: Path) -> dict[str, float]:
    """Largest |onnxruntime - predict| over every class's probability, float and uint8 exports."""
    net = load(run)
    classes = len(net.class_names)
    predicted = np.zeros((len(files), classes))
    for row, prediction in enumerate(predict(net, files, top=classes).predictions):
        for guess in prediction.top:
            predicted[row, guess.index] = guess.probability
    differences = {}
    for name, extra, inputs in (
        ("float input", (), torch.stack([net.preprocess(path) for path in files]).numpy()),
        ("uint8 input (--with-preprocessing)", ("--with-preprocessing",),
         torch.stack([net.preprocess.pixels(path) for path in files]).numpy()),
    ):
        out = root / f"{run.name}-{len(extra)}.onnx"
        archgen("build", str(run / "spec.toml"), "--weights", str(run / "weights.safetensors"), "--export", "onnx",
                "--out", str(out), "--force", *extra)
        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        logits = session.run(None, {session.get_inputs()[0].name: inputs})[0]
        probabilities = torch.from_numpy(logits).softmax(-1).double().numpy()
        differences[name] = float(np.abs(probabilities - predicted).max())
    return differences


def timing(run: Path, files: list[Path], repeats: int) -> dict[str, float]:
    """predict against torchvision's transforms and the same forward, per image, alternated."""
    net = load(run)
    record = net.record
    plain = T.Compose([T.Resize(record.size, antialias=True), T.CenterCrop(record.size), T.ToImage(),
                       T.ToDtype(torch.float32, scale=True), T.Normalize(record.mean, record.std)])

    def archgen_side(_: int) -> float:
        began = time.perf_counter()
        predict(net, files, top=5)
        return (time.perf_counter() - began) / len(files)

    @torch.no_grad()
    def torchvision_side(_: int) -> float:
        began = time.perf_counter()
        for first in range(0, len(files), BATCH):
            batch = torch.stack([plain(Image.open(path).convert("RGB")) for path in files[first : first + BATCH]])
            net.model(batch).softmax(-1).topk(5, dim=1)
        return (time.perf_counter() - began) / len(files)

    archgen_side(0), torchvision_side(0)  # warm-up: first calls allocate
    paired = alternate(archgen_side, torchvision_side, repeats=repeats)
    return {"archgen ms": paired.first * 1e3, "torchvision ms": paired.second * 1e3, "ratio": paired.ratio,
            "iqr low": paired.ratio_iqr[0], "iqr high": paired.ratio_iqr[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/archgen-use-bench"))
    parser.add_argument("--train", type=int, default=5000, help="training images (a tenth of them per class)")
    parser.add_argument("--val", type=int, default=1000, help="validation images, from the test set")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--run", type=Path, help="measure this run folder (trained by an earlier call) instead")
    parser.add_argument("--out", type=Path, help="write the report here (bench/using_a_trained_net.md)")
    options = parser.parse_args()
    began = time.time()
    data = unpack(options.root, train=options.train, val=options.val)
    run, seconds = (options.run, 0.0) if options.run else train(data, options.root / "runs", options.epochs)
    files = sorted((data / "val").rglob("*.jpg"))[:: max(1, options.val // IMAGES)][:IMAGES]
    evaluation = evaluated(run)
    onnx = onnx_difference(run, files, options.root)
    timed = timing(run, files, options.repeats)
    lines = [
        "# Using a trained net: evaluate, the ONNX export and predict on CIFAR-10 JPEGs", "",
        "Made by `python bench/using_a_trained_net.py"
        f" --train {options.train} --val {options.val} --epochs {options.epochs} --repeats {options.repeats}"
        f"{' --run RUN' if options.run else ''} --out bench/using_a_trained_net.md`"
        f" ({(time.time() - began) / 60:.1f} minutes"
        f"{f', the training {seconds:.0f} s of it' if not options.run else ', on a run an earlier call trained'}).",
        "",
        f"The run: specs/cifar/resnet20.toml trained {options.epochs} epochs on {options.train:,} CIFAR-10 training "
        f"JPEGs (an image folder held in memory), validated on {evaluation['images']:,} test-set JPEGs.", "",
        "| what | result |", "|---|---|",
        f"| `archgen evaluate RUN` on its own validation split | top-1 error {evaluation['evaluate']!r}; recorded "
        f"final validation error {evaluation['recorded']!r}: {'equal' if evaluation['equal'] else 'DIFFERENT'} "
        f"(loss {evaluation['loss']!r} against {evaluation['recorded loss']!r}) |",
        *(f"| ONNX export in onnxruntime vs `archgen predict`, {name}, {len(files)} images | largest probability "
          f"difference {value:.2e} |" for name, value in onnx.items()),
        f"| `archgen predict` per image ({len(files)} JPEG files, top 5) vs torchvision transforms + the same "
        f"forward | {timed['archgen ms']:.2f} ms vs {timed['torchvision ms']:.2f} ms: {timed['ratio']:.2f} x "
        f"(IQR {timed['iqr low']:.2f}-{timed['iqr high']:.2f}, {options.repeats} paired repeats; > 1: archgen "
        "slower) |", "",
        f"Measured on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__},"
        f" {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} after (other processes share the cores).",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if options.out:
        options.out.write_text(report)


if __name__ == "__main__":
    main()
