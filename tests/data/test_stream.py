"""Streamed data: image folders and tar shards read by worker processes, batches a function of (seed, epoch, rank).

Each test has its control: the comparison that must hold is shown failing on what differs (another seed, another
epoch, the start step ignored, another process's shard).
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_data import write_image_folder
from fake_shards import write_shards
from torch.utils.data import DistributedSampler

import archgen.data.folder as folder
import archgen.data.stream as stream
from archgen.data import ImageData, Loader, Loaders, StreamedData, load_data, make_loaders, order, parse_source
from archgen.data.crops import image_draw, paper_pad
from archgen.data.decode import decode, fit, read
from archgen.data.shards import expand
from archgen.data.stream_batches import StreamBatches
from archgen.data.views import Normalise
from archgen.errors import DataError

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 10 JPEGs of 20x20 (5 each in val/)."""
    return write_image_folder(tmp_path_factory.mktemp("jpegs") / "images", per_class=10, size=20, suffix=".jpg")


@pytest.fixture(scope="module")
def pngs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 8 PNGs of 12x12: decoded exactly alike in memory and streamed."""
    return write_image_folder(tmp_path_factory.mktemp("pngs") / "images", per_class=8, size=12)


def streamed(source: str, *, size: int = 16, workers: int = 2, seed: int = 0, rank: int = 0, world: int = 1,
             batch_size: int = 4, augment: bool = True) -> Loaders:
    data = load_data(source, size=size)
    made = make_loaders(data, batch_size=batch_size, augment=augment, seed=seed, device=CPU, rank=rank, world=world,
                        workers=workers)
    assert isinstance(made.train.maker, StreamBatches) and isinstance(made.val.maker, StreamBatches)
    return made


def loaders(source: str, **options: object) -> tuple[Loader, Loader]:
    made = streamed(source, **options)  # type: ignore[arg-type]
    return made.train, made.val


def epoch(loader: Loader, number: int, start: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(images.clone(), labels.clone()) for images, labels in loader.batches(number, start=start)]


def same(first: list[tuple[torch.Tensor, torch.Tensor]], second: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
    return len(first) == len(second) and all(torch.equal(a, c) and torch.equal(b, d)
                                             for (a, b), (c, d) in zip(first, second, strict=True))


# --- sources ---------------------------------------------------------------------------------------------------


def test_stream_and_wds_parse_and_print_back() -> None:
    assert parse_source("stream:/d").kind == "stream" and str(parse_source("stream:/d")) == "stream:/d"
    text = "wds:/s/train-{000..009}.tar,val=/s/val-{0,1}.tar"
    source = parse_source(text)
    assert (source.kind, str(source.path), str(source.val)) == ("wds", "/s/train-{000..009}.tar", "/s/val-{0,1}.tar")
    assert str(source) == text and parse_source(str(source)) == source
    assert parse_source("wds:rel/t.tar,val=rel/v.tar").resolved().path == Path("rel/t.tar").resolve()
    with pytest.raises(DataError, match="needs the training and the validation shards"):
        parse_source("wds:/s/train-{000..009}.tar")  # control: without val= it is refused


def test_brace_patterns_expand_as_bash_does() -> None:
    assert expand("s-{000..002}.tar") == ["s-000.tar", "s-001.tar", "s-002.tar"]
    assert expand("{a,b}-{8..10}") == ["a-8", "a-9", "a-10", "b-8", "b-9", "b-10"]
    assert expand("{2..0}{x}") == ["2{x}", "1{x}", "0{x}"]
    assert expand("plain.tar") == ["plain.tar"]
    with pytest.raises(DataError, match="more than archgen reads"):
        expand("s-{0000000..9999999}.tar")  # counted, never expanded


def test_a_stream_folder_lists_without_decoding(jpegs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("archgen.data.decode.decode_jpeg", lambda *a, **k: pytest.fail("decoded"))
    data = load_data(f"stream:{jpegs}", size=16)
    assert isinstance(data, StreamedData)
    assert (len(data.train), len(data.val), data.classes, data.channels, data.size) == (30, 15, 3, 3, 16)
    record = data.record()
    assert record["loader"] == "stream" and record["class names"] == ["cat", "dog", "emu"]
    assert str(record["files"]).startswith("30 files, ")
    (jpegs / "train" / "cat" / "000.jpg").write_bytes((jpegs / "train" / "cat" / "000.jpg").read_bytes() + b"\0")
    assert load_data(f"stream:{jpegs}", size=16).record()["files"] != record["files"]  # control: a size changed


def test_imagefolder_streams_only_over_the_cap(pngs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(load_data(f"imagefolder:{pngs}", size=12), ImageData)
    monkeypatch.setattr(folder, "MAX_BYTES", 3 * 12 * 12 * 36)  # 36 images fit, not 36 + their labels
    streamed = load_data(f"imagefolder:{pngs}", size=12)
    assert isinstance(streamed, StreamedData) and streamed.source == f"imagefolder:{pngs}"


def test_mixed_sizes_over_the_cap_stream_without_reading_every_header(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_image_folder(tmp_path / "images", per_class=8, size=12)
    for path in (tmp_path / "images" / "train" / "cat").iterdir():  # 8 of the 36 images become 12x9
        folder.Image.new("RGB", (12, 9)).save(path, "PNG")
    surveyed: list[int] = []
    survey = folder._survey
    monkeypatch.setattr(folder, "_survey", lambda paths: (surveyed.append(len(paths)), survey(paths))[1])
    monkeypatch.setattr(stream, "SAMPLE", 6)
    monkeypatch.setattr(folder, "MAX_BYTES", 100)
    assert isinstance(load_data(f"imagefolder:{root}", size=12), StreamedData) and surveyed == [6]
    surveyed.clear()
    monkeypatch.setattr(folder, "MAX_BYTES", 10**9)  # control: under the cap, every header is read to load it
    assert isinstance(load_data(f"imagefolder:{root}", size=12), ImageData) and max(surveyed) == 36


# --- orders -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "world"), [(10, 1), (10, 3), (7, 4), (2, 5)])
def test_folder_order_is_distributed_samplers(count: int, world: int) -> None:
    for rank in range(world):
        sampler = DistributedSampler(range(count), num_replicas=world, rank=rank, shuffle=True, seed=3)  # type: ignore[arg-type]
        sampler.set_epoch(5)
        assert order.shuffled(count, seed=3, epoch=5, rank=rank, world=world).tolist() == list(sampler)
    assert order.shuffled(10, seed=3, epoch=5, rank=0, world=1).tolist() != \
        order.shuffled(10, seed=3, epoch=6, rank=0, world=1).tolist()  # control: another epoch, another order


def test_shard_order_reads_every_sample_once_and_cuts_shards_between_processes() -> None:
    per_shard = np.array([5, 3, 4, 6, 3])  # 21 samples in 5 shards
    shard_of = np.repeat(np.arange(5), per_shard)
    runs = [order.shard_stream(per_shard, seed=1, epoch=2, rank=rank, world=3).tolist() for rank in range(3)]
    assert [len(run) for run in runs] == [7, 7, 7] and sorted(chain(*runs)) == list(range(21))
    shards = [set(shard_of[run].tolist()) for run in runs]
    shared = [a & b for i, a in enumerate(shards) for b in shards[i + 1 :]]
    assert sum(len(s) for s in shared) <= 2  # only the shards cut at the two boundaries are read by two processes
    again = order.shard_stream(per_shard, seed=1, epoch=2, rank=1, world=3).tolist()
    assert again == runs[1] != order.shard_stream(per_shard, seed=1, epoch=3, rank=1, world=3).tolist()  # control
    padded = [order.shard_stream(per_shard[:4], seed=1, epoch=2, rank=rank, world=4).tolist() for rank in range(4)]
    assert [len(run) for run in padded] == [5] * 4 and sorted(set(chain(*padded))) == list(range(18))


def test_validation_is_every_sample_once_without_padding() -> None:
    assert sorted(chain(*(order.strided(11, rank=r, world=3).tolist() for r in range(3)))) == list(range(11))
    assert [len(order.contiguous(11, rank=r, world=3)) for r in range(3)] == [3, 4, 4]
    assert list(chain(*(order.contiguous(11, rank=r, world=3).tolist() for r in range(3)))) == list(range(11))


def test_augmentation_is_a_function_of_seed_epoch_and_index() -> None:
    drawn = [image_draw(0, 1, index, 2) for index in range(50)]
    assert drawn == [image_draw(0, 1, index, 2) for index in range(50)]
    assert all(0 <= top <= 4 and 0 <= left <= 4 for top, left, _ in drawn) and {f for *_, f in drawn} == {0, 1}
    assert drawn != [image_draw(0, 2, index, 2) for index in range(50)]  # control: another epoch


# --- batches ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["folder", "shards"])
def test_batches_from_step_k_equal_the_uninterrupted_epochs(jpegs: Path, tmp_path: Path, kind: str) -> None:
    source = f"stream:{jpegs}" if kind == "folder" else \
        f"wds:{write_shards(jpegs, tmp_path, split='train', per_shard=7)},val=" \
        f"{write_shards(jpegs, tmp_path, split='val', per_shard=7)}"
    train, _ = loaders(source)
    full = epoch(train, 3)
    assert len(full) == 8 and sorted(torch.cat([y for _, y in full]).tolist()) == [0] * 10 + [1] * 10 + [2] * 10
    for start in (1, 5, 7):
        fresh, _ = loaders(source)  # a new process's loader, as after a kill
        assert same(epoch(fresh, 3, start), full[start:])
    assert not same(epoch(train, 4, 1), full[1:])  # control: another epoch's batches differ
    other, _ = loaders(source, seed=1)
    assert not same(epoch(other, 3, 1), full[1:])  # control: so do another seed's


@pytest.mark.slow
def test_batches_do_not_depend_on_the_workers(jpegs: Path) -> None:
    two, _ = loaders(f"stream:{jpegs}", workers=2)
    none, _ = loaders(f"stream:{jpegs}", workers=0)
    assert same(epoch(two, 1), epoch(none, 1))


def first_draws(seed: int, epoch: int, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The samples of the first batch of `epoch` (one process), with each one's crop offsets and flip."""
    index = order.shuffled(count, seed=seed, epoch=epoch, rank=0, world=1)[:4]
    drawn = [image_draw(seed, epoch, i, paper_pad(size)) for i in index.tolist()]
    return index, torch.tensor([d[:2] for d in drawn]), torch.tensor([d[2] for d in drawn])


@pytest.mark.slow
def test_a_worker_batch_equals_the_same_samples_made_here(jpegs: Path) -> None:
    """The workers' crops and flips are `image_draw(seed, epoch, index)`: the same files read, decoded, fitted,
    padded, cropped and flipped here, one at a time by slicing, make the same batch."""
    made = streamed(f"stream:{jpegs}", seed=5)
    (images, labels), *_ = epoch(made.train, 2)
    data = load_data(f"stream:{jpegs}", size=16)
    assert isinstance(data, StreamedData)
    index, offsets, flips = first_draws(5, 2, 30, 16)

    def here(flipped: torch.Tensor) -> torch.Tensor:
        cuts = []
        for i, (top, left), flip in zip(index.tolist(), offsets.tolist(), flipped.tolist(), strict=True):
            location = data.train.locate(i)
            image = fit(decode(read(location), location.shown, 3), 16)
            cut = torch.nn.functional.pad(image, (paper_pad(16),) * 4)[:, top : top + 16, left : left + 16]
            cuts.append(cut.flip(2) if flip else cut)
        return Normalise.of(made.mean, made.std, CPU)(torch.stack(cuts))

    assert torch.equal(here(flips), images) and labels.tolist() == data.train.labels[index.numpy()].tolist()
    assert not torch.equal(here(~flips), images)  # control: the flips matter


@pytest.mark.slow
def test_streamed_pngs_equal_the_in_memory_loaders_batches(pngs: Path) -> None:
    """PNGs at the network's size decode alike; with under 512 images the sampled statistics are the whole set's:
    validation batches are bitwise the in-memory loader's, and a worker's crop and flip is the in-memory loader's
    (made on the device from the same offsets and flips)."""
    memory = make_loaders(load_data(f"imagefolder:{pngs}", size=12), batch_size=4, augment=True, seed=0, device=CPU)
    made = streamed(f"stream:{pngs}", size=12)
    assert (made.mean, made.std) == (memory.mean, memory.std)
    assert same(epoch(made.val, 0), [tuple(batch) for batch in memory.val.batches(0)])  # type: ignore[misc]
    (images, labels), *_ = epoch(made.train, 3)
    index, offsets, flips = first_draws(0, 3, 24, 12)
    expected = memory.train.materialize(index, offsets, flips)
    assert torch.equal(images, expected[0]) and torch.equal(labels, expected[1])
    assert not torch.equal(images, memory.train.materialize(index, offsets, ~flips)[0])  # control


@pytest.mark.slow
def test_processes_read_disjoint_samples(jpegs: Path) -> None:
    runs = [loaders(f"stream:{jpegs}", rank=rank, world=2) for rank in (0, 1)]
    seen = [sorted(torch.cat([y for _, y in epoch(train, 0)]).tolist()) for train, _ in runs]
    assert [len(s) for s in seen] == [15, 15] and sorted(seen[0] + seen[1]) == [0] * 10 + [1] * 10 + [2] * 10
    assert [val.samples for _, val in runs] == [8, 7]


@pytest.mark.slow
def test_shards_hold_the_folders_images(jpegs: Path, tmp_path: Path) -> None:
    """Shards written from the folder (an extra .txt per sample, ignored) give the folder's validation batches."""
    train = write_shards(jpegs, tmp_path, split="train", per_shard=4, extra=True)
    val = write_shards(jpegs, tmp_path, split="val", per_shard=4, extra=True)
    data = load_data(f"wds:{train},val={val}", size=16)
    assert isinstance(data, StreamedData) and data.class_names == ("0", "1", "2") and len(data.train) == 30
    _, sharded = loaders(f"wds:{train},val={val}")
    _, folder_val = loaders(f"stream:{jpegs}")
    assert same(epoch(sharded, 0), epoch(folder_val, 0))


@pytest.mark.slow
def test_statistics_come_from_a_fixed_sample(jpegs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = streamed(f"stream:{jpegs}")
    monkeypatch.setattr("archgen.data.stream_batches.SAMPLE", 8)
    sampled = streamed(f"stream:{jpegs}")
    assert sampled.mean == streamed(f"stream:{jpegs}").mean  # fixed: the same sample every time
    assert sampled.mean != whole.mean and sampled.std != whole.std  # control: 8 of 30 images are not all of them
