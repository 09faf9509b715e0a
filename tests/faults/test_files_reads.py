"""Every file archgen reads back is read within the most its kind can hold (`archgen.files.read_bounded`): a larger
one is refused in one line naming the file, its size and the limit, before a byte is read; one that grows while
read is refused as it passes the limit; a zip's records are refused by the sizes they declare, before torch inflates
them. The big files are sparse (`truncate`), the big zip records only claim their size: nothing here allocates them.

Controls: a file of exactly its limit reads; an honest zip passes; the same commands work on the undamaged files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import resource
import shutil
import signal
import struct
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny import tiny_spec
from train_helpers import archgen_here, checkpoints, contents, forge_manifest, one_error_line
from train_states import sample_state

from archgen.compile import build_model
from archgen.data.catalog import Location
from archgen.data.decode import max_image_bytes, read
from archgen.data.shards import shard_catalog
from archgen.errors import DataError, RunError
from archgen.files import Limit, check_zip, read_bounded, read_if_present, sha256_of
from archgen.memory import Headroom
from archgen.training import load_latest, save_checkpoint
from archgen.training import pretrained as pretrained_module
from archgen.training.checkpoints import STATE, state_limit
from archgen.training.pretrained import read_initial
from archgen.training.record import DATA_LIMIT, METRICS_LIMIT, SUMMARY_LIMIT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_shards import add

MiB, GiB = 2**20, 2**30
SMALL = Limit(100, "a test file (100 bytes)")


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that holds no data blocks (reads as zeros): big on paper, free on disk."""
    with open(path, "wb") as file:
        file.truncate(size)
    return path


def claiming(archive: bytes, member: str, size: int) -> bytes:
    """`archive` with `member`'s uncompressed size in the central directory (what a reader allocates) set to
    `size`: a record that claims to inflate to it, without anything that large existing."""
    data = bytearray(archive)
    name = member.encode()
    entry = data.rindex(name) - 46  # the central directory's entry: 46 bytes of fields, then the name
    assert data[entry : entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, size)  # its uncompressed size
    return bytes(data)


@contextlib.contextmanager
def capped_address_space(room: int) -> Iterator[None]:
    """The test process's address space capped at `room` more than it maps now (the soft limit; restored after)."""
    mapped = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmSize:"))
    previous = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + room, previous[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, previous)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A read that blocks would hang the suite: SIGALRM turns it into a failure after 20 s."""
    def hung(*_: object) -> None:
        raise AssertionError("the read blocked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the reader ------------------------------------------------------------------------------------------------


def test_a_file_larger_than_its_kind_is_refused_before_reading(tmp_path: Path) -> None:
    big = sparse(tmp_path / "big", 2**40)  # a terabyte on paper
    with pytest.raises(RunError) as refused:
        read_bounded(big, SMALL)
    assert str(refused.value) == (f"{big}: 1,099,511,627,776 bytes, more than a test file (100 bytes) can hold "
                                  "(at most 100)")
    with pytest.raises(RunError, match="more than a test file"):
        sha256_of(big, SMALL)


def test_control_a_file_of_exactly_its_limit_reads(tmp_path: Path) -> None:
    (tmp_path / "full").write_bytes(b"x" * 100)
    assert read_bounded(tmp_path / "full", SMALL) == b"x" * 100
    assert sha256_of(tmp_path / "full", SMALL) == hashlib.sha256(b"x" * 100).hexdigest()
    assert read_if_present(tmp_path / "absent", SMALL) is None


def test_a_file_that_grows_while_read_is_refused_at_the_limit() -> None:
    """/proc files say 0 bytes to fstat and hold more: a file that grew between fstat and the read."""
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("Linux /proc")
    with pytest.raises(RunError) as refused:
        read_bounded(status, SMALL)
    assert str(refused.value) == f"{status}: grew past 100 bytes while being read, more than a test file (100 " \
                                 "bytes) can hold"
    assert b"VmSize" in read_bounded(status, Limit(MiB, "a status file"))  # control: within the limit it reads


def test_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path: Path, no_hang: None) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path in (tmp_path / "fifo", tmp_path):
        with pytest.raises(RunError, match=rf"^{path}: not a regular file"):
            read_bounded(path, SMALL)
    # control: a blocking open of that FIFO would wait for a writer (here it fails at once instead of waiting)
    with pytest.raises(OSError, match="No such device or address"):
        os.open(tmp_path / "fifo", os.O_WRONLY | os.O_NONBLOCK)


def test_a_zip_whose_records_claim_more_than_the_limit_is_refused_before_inflating() -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buffer)
    honest = buffer.getvalue()
    check_zip(honest, "w.pt", Limit(MiB, "test weights"))  # control: the honest archive passes
    record = next(name for name in zipfile.ZipFile(io.BytesIO(honest)).namelist() if name.endswith("/data/0"))
    with pytest.raises(RunError) as refused:
        check_zip(claiming(honest, record, 2**30), "w.pt", Limit(MiB, "test weights"))
    assert str(refused.value).startswith("w.pt: its zip records would inflate to 1,073,74")
    assert str(refused.value).endswith("more than test weights can hold (at most 1,048,576); refused before "
                                       "inflating any")


# --- a run's records, read back by compare, report, a resume and the search --------------------------------------


@pytest.mark.parametrize(("name", "limit"), [("metrics.jsonl", METRICS_LIMIT), ("summary.json", SUMMARY_LIMIT)])
def test_compare_refuses_a_run_record_beyond_its_limit(
    finished: Path, tmp_path: Path, name: str, limit: Limit
) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    sparse(run / name, limit.most + 1)
    outcome = archgen_here("compare", str(run), "--plot", str(tmp_path / "plot.png"))
    assert outcome.code == 1
    assert one_error_line(outcome) == f"error: {limit.refusal(str(run / name), limit.most + 1)}"
    assert not (tmp_path / "plot.png").exists()


def test_control_compare_reads_the_run_records_at_their_size(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    outcome = archgen_here("compare", str(run), "--plot", str(tmp_path / "plot.png"))
    assert outcome.code == 0, outcome.stderr


def test_a_resume_refuses_a_data_record_beyond_its_limit_before_training(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "weights.safetensors").unlink()  # unfinished
    sparse(run / "data.json", DATA_LIMIT.most + 1)
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1
    assert one_error_line(outcome) == f"error: {DATA_LIMIT.refusal(str(run / 'data.json'), DATA_LIMIT.most + 1)}"
    assert outcome.stdout == "" and contents(run) == before


# --- checkpoints -------------------------------------------------------------------------------------------------


def test_a_checkpoint_state_beyond_its_weights_limit_is_skipped_for_the_previous(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    previous = save_checkpoint(folder, sample_state(4))
    newest = save_checkpoint(folder, sample_state(8))
    limit = state_limit(sum(t.numel() * t.element_size() for t in sample_state(8).weights.values()))
    sparse(newest / STATE, limit.most + 1)  # an optimiser's state 3x the weights, and 64 MiB: a few seconds to hash
    forge_manifest(newest)
    loaded = load_latest(folder)
    assert loaded.path == previous and loaded.state is not None and loaded.state.updates == 4  # control: it loads
    assert loaded.skipped == (f"{newest}: {limit.refusal(str(newest / STATE), limit.most + 1)}",)


def test_a_checkpoint_state_whose_zip_claims_gigabytes_is_skipped_before_inflating(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    previous = save_checkpoint(folder, sample_state(4))
    newest = save_checkpoint(folder, sample_state(8))
    state = (newest / STATE).read_bytes()
    record = next(name for name in zipfile.ZipFile(io.BytesIO(state)).namelist() if name.endswith("/data/0"))
    (newest / STATE).write_bytes(claiming(state, record, 2**31))
    forge_manifest(newest)
    loaded = load_latest(folder)
    assert loaded.path == previous and loaded.state is not None
    assert "its zip records would inflate to 2,147,4" in loaded.skipped[0]
    assert loaded.skipped[0].endswith("refused before inflating any")


def test_a_run_with_every_checkpoint_beyond_its_limit_is_refused_in_one_line(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "weights.safetensors").unlink()
    for name in checkpoints(run):
        sparse(run / "checkpoints" / name / "manifest.json", 2**16 + 1)
    before = contents(run)
    outcome = archgen_here("train", "--resume", str(run))
    assert outcome.code == 1 and contents(run) == before
    line = one_error_line(outcome)
    assert line.startswith(f"error: no good checkpoint to resume {run} from: ")
    assert "manifest.json: 65,537 bytes, more than a checkpoint's manifest.json" in line


# --- --init weights ----------------------------------------------------------------------------------------------


@pytest.fixture
def network() -> torch.nn.Module:
    return build_model(tiny_spec())


def test_init_weights_larger_than_the_network_can_hold_are_refused_before_reading(
    network: torch.nn.Module, tmp_path: Path
) -> None:
    big = sparse(tmp_path / "big.safetensors", 2**30)  # a tiny net's file is kilobytes; this one claims a GiB
    with pytest.raises(RunError) as refused:
        read_initial(big, network)
    message = str(refused.value)
    assert message.startswith(f"{big}: 1,073,741,824 bytes, more than weights for this network (")
    assert "values at 8 bytes, twice over, and a classifier) can hold (at most " in message


def test_init_weights_whose_zip_claims_a_gibibyte_are_refused_before_torch_inflates_them(
    network: torch.nn.Module, tmp_path: Path
) -> None:
    """A small torch zip whose record claims 1 GiB: refused by its directory, under an address-space cap that a
    1 GiB allocation would break (so a regression fails here instead of taking the memory)."""
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    honest = buffer.getvalue()
    (tmp_path / "honest.pth").write_bytes(honest)
    record = next(name for name in zipfile.ZipFile(io.BytesIO(honest)).namelist() if name.endswith("/data/0"))
    (tmp_path / "claims.pth").write_bytes(claiming(honest, record, 2**30))
    with capped_address_space(768 * MiB), pytest.raises(RunError) as refused:
        read_initial(tmp_path / "claims.pth", network)
    assert "its zip records would inflate to 1,07" in str(refused.value)
    assert str(refused.value).endswith("refused before inflating any")
    assert read_initial(tmp_path / "honest.pth", network).tensors  # control: the honest file loads


def test_init_weights_are_limited_by_the_memory_this_process_may_still_take(
    network: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "w.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in network.state_dict().items()}, weights)
    sparse(tmp_path / "big.safetensors", 60 * MiB)  # within what the network can hold (a classifier's 256 MiB)
    monkeypatch.setattr(pretrained_module, "headroom", lambda: Headroom(100 * MiB, "ulimit -v 102400"))
    with pytest.raises(RunError) as refused:
        read_initial(tmp_path / "big.safetensors", network)
    assert str(refused.value) == (f"{tmp_path / 'big.safetensors'}: 62,914,560 bytes, more than the memory this "
                                  "process may still take (half of 100 MiB, ulimit -v 102400: the file and its "
                                  "tensors are held at once) can hold (at most 52,428,800)")
    assert read_initial(weights, network).tensors  # control: a real file within that memory loads


def test_train_init_with_a_file_beyond_its_limit_is_one_line(tmp_path: Path) -> None:
    big = sparse(tmp_path / "resnet20.pth", 2**33)  # 8 GiB on paper: the MemoryError traceback it once was
    outcome = archgen_here("train", "digits-resnet20", "--init", str(big), "--epochs", "1",
                           "--out", str(tmp_path / "runs"))
    assert outcome.code == 1
    assert one_error_line(outcome).startswith(f"error: {big}: 8,589,934,592 bytes, more than ")



# --- webdataset shards and streamed samples -----------------------------------------------------------------------


def member(name: str, size: int, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> tuple[bytes, int, bytes]:
    """A member's header claiming `size` bytes, and the `data` it begins with (the rest is a hole)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.USTAR_FORMAT), size, data


def write_shard(path: Path, members: list[tuple[bytes, int, bytes]]) -> Path:
    """A tar of raw members, each member's data after what it begins with a hole of its claimed size (sparse)."""
    with open(path, "wb") as file:
        for raw, size, data in members:
            file.write(raw + data)
            file.seek(file.tell() + size - len(data) + (-size % 512))
        file.write(b"\0" * 1024)  # the end-of-archive blocks
    return path


def test_a_shard_image_member_that_claims_more_than_an_image_file_is_refused(tmp_path: Path) -> None:
    most = max_image_bytes()
    shard = write_shard(tmp_path / "train-0.tar", [member("k.cls", 1, b"1"), member("k.jpg", most + 1)])
    with pytest.raises(DataError) as refused:
        shard_catalog(str(shard), split="train")
    assert str(refused.value).startswith(f"{shard}: member k.jpg: {most + 1:,} bytes, more than an image file can "
                                         f"hold (at most {most:,}: PIL's pixel limit at 8 bytes a pixel")
    control = write_shard(tmp_path / "train-1.tar", [member("k.cls", 1, b"1"), member("k.jpg", most)])
    assert len(shard_catalog(str(control), split="train").labels) == 1


def test_a_shard_header_that_claims_gigabytes_is_refused_before_tarfile_reads_it(tmp_path: Path) -> None:
    """A pax header (or GNU long name) is read by tarfile into one buffer: one claiming 2 GiB is refused first,
    under an address-space cap that reading it would break."""
    pax = member("././@PaxHeader", 2**31, kind=tarfile.XHDTYPE)
    shard = write_shard(tmp_path / "train-0.tar", [pax, member("k.cls", 1, b"1"), member("k.jpg", 9)])
    with capped_address_space(GiB), pytest.raises(DataError) as refused:
        shard_catalog(str(shard), split="train")
    assert str(refused.value) == f"{shard}: a header claims 2,147,483,648 bytes, more than a tar header can hold " \
                                 "(at most 1,048,576)"
    control = tmp_path / "train-1.tar"  # a real pax header: the long names tarfile writes in the PAX format
    with tarfile.open(control, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, f"{'k' * 150}.jpg", b"x")
        add(tar, f"{'k' * 150}.cls", b"1")
    assert len(shard_catalog(str(control), split="train").labels) == 1


def test_a_streamed_sample_longer_than_an_image_file_is_refused_before_its_buffer(tmp_path: Path) -> None:
    most = max_image_bytes()
    big = sparse(tmp_path / "big.jpg", most + 1)
    with capped_address_space(GiB // 2), pytest.raises(DataError, match=r"big.jpg: 732,"):
        read(Location(os.fsencode(big), 0, most + 1, most + 1, "big.jpg"))
    (tmp_path / "small.jpg").write_bytes(b"jpeg")  # control: a sample of its listed size is read
    assert read(Location(os.fsencode(tmp_path / "small.jpg"), 0, 4, 4, "small.jpg")) == b"jpeg"


# --- every other file a user names: opened without blocking, judged by what was opened -------------------------


def test_a_fifo_named_as_a_spec_or_a_cifar_batch_is_refused_without_blocking(tmp_path: Path, no_hang: None) -> None:
    """The files archgen opens that the user names are judged by what was opened (fstat), not by a check made before
    the open, so a FIFO put at the name is one line, never a wait for a writer that never comes."""
    from archgen.errors import SpecError
    from archgen.spec import read_spec

    os.mkfifo(tmp_path / "spec.toml")
    with pytest.raises(SpecError, match=r"spec\.toml: is not a regular file"):
        read_spec(tmp_path / "spec.toml")
    from archgen.data import cifar

    os.mkfifo(tmp_path / "data_batch_1")  # as if put there after the folder was listed (which refuses FIFOs too)
    for reader in (cifar._cost, cifar._read_batch):
        with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR-10 python batch \(OSError: .*not a regular"):
            reader(tmp_path / "data_batch_1")


def test_a_fifo_at_a_study_journal_is_refused_without_blocking(tmp_path: Path, no_hang: None) -> None:
    from archgen.files import open_append

    os.mkfifo(tmp_path / "journal.log")
    with pytest.raises(OSError, match="not a regular file"):
        open_append(tmp_path / "journal.log", follow=True)
    os.symlink(tmp_path / "elsewhere", tmp_path / "journal.log.torn")  # beside the journal: archgen's own file
    with pytest.raises(OSError):
        open_append(tmp_path / "journal.log.torn", follow=False)
    assert not (tmp_path / "elsewhere").exists()
    # control: a regular file (or a link the user made to one, for the journal itself) appends
    (tmp_path / "real.log").write_bytes(b"a\n")
    os.symlink(tmp_path / "real.log", tmp_path / "named.log")
    with open_append(tmp_path / "named.log", follow=True) as file:
        file.write(b"b\n")
    assert (tmp_path / "real.log").read_bytes() == b"a\nb\n"
