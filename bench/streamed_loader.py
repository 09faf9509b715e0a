"""Streamed image folders: decoder choice, loader throughput against torchvision, and memory flat in the folder's size.

  python bench/streamed_loader.py [--root /tmp/archgen-stream-bench] [--images 1000 5000] [--workers 2]

Generates folders of 256x256 JPEGs (10 classes, smooth colour fields plus noise) under --root, then measures:
1. decoding: torchvision.io.decode_jpeg + tensor resize against PIL open + ImageOps.fit, one thread, per image;
2. images/s of one augmented epoch of archgen's streamed loader against torchvision's ImageFolder + DataLoader with
   the same workers, batch size and transforms (Resize, CenterCrop, RandomCrop with padding, flip, normalise),
   alternated (bench/paired.py) on the largest folder, as a ratio (> 1: archgen faster);
3. peak memory of `archgen train` for one epoch on each folder (a subprocess; the anonymous memory of it and its
   data workers, each page counted once (Pss_Anon, summed), sampled every 50 ms), beside the folder's decoded size;
4. the sampled normalisation statistics against the whole training split's.
Prints a Markdown report (write it to bench/streamed_loader.md with --out).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from paired import alternate
from resident import tree_pss_anon
from tiny import tiny_toml

from archgen.data import load_data, make_loaders
from archgen.data.crops import paper_pad
from archgen.data.decode import decode, fit
from archgen.data.images import level_counts, stats_from_counts
from archgen.data.stream_batches import StreamBatches
from archgen.data.views import Normalise

SIDE, CLASSES, VAL = 256, 10, 200


def generate(root: Path, count: int) -> Path:
    """`count` training and VAL validation JPEGs of SIDE x SIDE (reused when already there)."""
    folder = root / f"jpegs-{count}"
    if (folder / "done").exists():
        return folder
    rng = np.random.default_rng(count)
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    for split, number in (("train", count), ("val", VAL)):
        for index in range(number):
            a, b, c = rng.uniform(0, 6, 3)
            base = np.stack([np.sin(a * x + b * y), np.cos(b * x - c * y), np.sin(c * (x + y))], -1) * 100 + 128
            pixels = (base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
            target = folder / split / f"class{index % CLASSES}"
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(target / f"{index:06d}.jpg", quality=90)
    (folder / "done").touch()
    return folder


def decoders(folder: Path, size: int) -> tuple[float, float]:
    """Milliseconds per image: torchvision's path (archgen's) and PIL's, one thread, the same files."""
    torch.set_num_threads(1)
    files = sorted((folder / "train").rglob("*.jpg"))[:300]
    blobs = [bytearray(path.read_bytes()) for path in files]

    def ours() -> None:
        for blob in blobs:
            fit(decode(blob, "x", 3), size)

    def pil() -> None:
        for blob in blobs:
            image = ImageOps.fit(Image.open(io.BytesIO(blob)).convert("RGB"), (size, size), Image.Resampling.BILINEAR)
            torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)

    times = []
    for run in (ours, pil, ours, pil):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) / len(blobs) * 1e3)
    torch.set_num_threads(2)
    return min(times[0::2]), min(times[1::2])


def throughput(folder: Path, *, size: int, workers: int, batch: int, repeats: int) -> tuple[float, float, float]:
    """(archgen images/s, torchvision images/s, median ratio) over alternating epochs."""
    from torchvision import datasets
    from torchvision.transforms import v2

    data = load_data(f"stream:{folder}", size=size)
    loaders = make_loaders(data, batch_size=batch, augment=True, seed=0, device=torch.device("cpu"), workers=workers)
    train = loaders.train
    assert isinstance(train.maker, StreamBatches)
    transform = v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size),
                            v2.RandomCrop(size, padding=paper_pad(size)), v2.RandomHorizontalFlip()])
    theirs = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder / "train"), transform=transform),
                                         batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=True)
    normalise = Normalise.of(loaders.mean, loaders.std, torch.device("cpu"))
    scale, shift = normalise.scale, normalise.shift

    def archgen_epoch(repeat: int) -> float:
        began, seen = time.perf_counter(), 0
        for images, _ in train.batches(repeat):
            seen += len(images)
        return seen / (time.perf_counter() - began)

    def torchvision_epoch(repeat: int) -> float:
        began, seen = time.perf_counter(), 0
        for images, _ in theirs:
            images = images.float() * scale + shift  # as archgen's: uint8 from the workers, normalised here
            seen += len(images)
        return seen / (time.perf_counter() - began)

    archgen_epoch(0), torchvision_epoch(0)  # workers started, files in the page cache
    paired = alternate(archgen_epoch, torchvision_epoch, repeats=repeats)
    return paired.first, paired.second, paired.ratio


def peak_memory(folder: Path, *, size: int, out: Path) -> tuple[float, float]:
    """(peak anonymous memory of `archgen train` and its workers, PSS summed, MiB; seconds) for one epoch."""
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "tiny.toml"
    spec.write_text(tiny_toml(epochs=1, batch_size=64).replace("size = 32", f"size = {size}"))
    process = subprocess.Popen([sys.executable, "-m", "archgen", "train", str(spec), "--data", f"stream:{folder}",
                                "--out", str(out / "runs")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, began = 0, time.perf_counter()

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, tree_pss_anon(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    assert process.returncode == 0, stderr.decode()
    return peak / 2**20, time.perf_counter() - began


def statistics(folder: Path, size: int) -> tuple[float, float]:
    """Largest difference between the sampled and the whole split's means, and standard deviations (0..1 scale)."""
    data = load_data(f"stream:{folder}", size=size)
    loaders = make_loaders(data, batch_size=256, augment=False, seed=0, device=torch.device("cpu"), workers=2)
    train = loaders.train
    assert isinstance(train.maker, StreamBatches)
    normalise = Normalise.of(loaders.mean, loaders.std, torch.device("cpu"))
    counts = sum(level_counts(((images - normalise.shift) / normalise.scale).round().clamp(0, 255).to(torch.uint8))
                 for images, _ in train.batches(0))  # normalised by the sample: undone, counted batch by batch
    assert isinstance(counts, torch.Tensor)
    mean, std = stats_from_counts(counts)
    sampled_mean, sampled_std = loaders.mean, loaders.std
    return (max(abs(a - b) for a, b in zip(mean, sampled_mean, strict=True)),
            max(abs(a - b) for a, b in zip(std, sampled_std, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/archgen-stream-bench"))
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224, help="loader throughput's crop size")
    parser.add_argument("--train-size", type=int, default=128, help="the network's size in the memory runs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    began = time.time()
    folders = [generate(args.root, count) for count in args.images]
    ours, pil = decoders(folders[0], args.size)
    archgen_rate, torchvision_rate, ratio = throughput(folders[-1], size=args.size, workers=args.workers,
                                                       batch=args.batch, repeats=args.repeats)
    memory = [peak_memory(folder, size=args.train_size, out=args.root / f"run-{count}")
              for folder, count in zip(folders, args.images, strict=True)]
    mean_error, std_error = statistics(folders[-1], args.size)
    lines = [
        "# Streamed image folders", "",
        "Written by `python bench/streamed_loader.py --out bench/streamed_loader.md " +
        " ".join(f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                 for k, v in vars(args).items() if k not in ("out", "root")) + "`.", "",
        f"Folders of {SIDE}x{SIDE} JPEGs (quality 90, {CLASSES} classes, {VAL} validation images), on "
        f"{platform.processor() or platform.machine()} with {os.cpu_count()} CPUs, torch {torch.__version__}.", "",
        "| measure | result |", "|---|---|",
        f"| decode + fit to {args.size}², one thread: torchvision.io.decode_jpeg + tensor resize (archgen) vs PIL "
        f"open + ImageOps.fit | {ours:.2f} ms vs {pil:.2f} ms per image: PIL takes {pil / ours:.2f}× as long |",
        f"| one augmented epoch at {args.size}², {args.images[-1]:,} images, {args.workers} workers, batch "
        f"{args.batch}: archgen's streamed loader vs torchvision ImageFolder + DataLoader | {archgen_rate:,.0f} vs "
        f"{torchvision_rate:,.0f} images/s: **{ratio:.2f}×** (median of {args.repeats} alternating pairs) |",
    ]
    for count, (peak, seconds) in zip(args.images, memory, strict=True):
        decoded = count * 3 * SIDE * SIDE / 2**30
        lines.append(f"| `archgen train` one epoch at {args.train_size}², {count:,} JPEGs ({decoded:.2f} GiB decoded "
                     f"at {SIDE}²): peak anonymous memory of the process and its workers (PSS, summed) | "
                     f"{peak:,.0f} MiB ({seconds:.0f} s) |")
    lines.append(f"| normalisation from 512 sampled images vs the whole split ({args.images[-1]:,}) | means within "
                 f"{mean_error:.4f}, standard deviations within {std_error:.4f} (0..1 scale) |")
    lines += ["", f"Total {time.time() - began:.0f} s."]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
