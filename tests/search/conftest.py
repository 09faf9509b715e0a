"""Search test helpers: a tiny search spec, configs on a journal or PostgreSQL study, a private PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import archgen
from archgen.search import SearchConfig, resolve_spec, storage_spec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `fakes` for this process and (through spawn) for worker processes

TINY = """
name = "tiny-search"
[input]
channels = 1
size = 8
classes = 10
[stem]
kind = "cifar"
width = 8
[body]
block = "basic"
depths = [1, 1]
width = 8
[train]
epochs = 1
batch_size = 64
lr = 0.05
schedule = "constant"
augment = false
[search]
epochs = 2
pruner = "none"
[search.params]
"body.depths.0" = { low = 1, high = 4 }
"body.depths.1" = { low = 1, high = 4 }
"body.width" = { choices = [4, 8, 12, 16] }
"train.lr" = { choices = [0.05, 0.1] }
"""


def write_spec(folder: Path, text: str = TINY, extra: str = "") -> Path:
    path = folder / "space.toml"
    # written whole or not at all: worker processes started together each write and read it, and a reader that
    # caught another's truncate-then-write read an empty spec (the killed-worker test's survivor exited 1 so)
    partial = path.with_name(f".space-{os.getpid()}.toml")
    partial.write_text(text + extra)
    os.replace(partial, path)
    return path


def share_among(workers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every one of `workers` trains: each worker's first trial waits until all have reached theirs (fakes.py)."""
    arrived = tmp_path / "arrived"
    arrived.mkdir()
    monkeypatch.setenv("ARCHGEN_FAKE_QUORUM", f"{arrived}:{workers}")


def make_config(
    tmp_path: Path,
    *,
    trials: int,
    storage: str | None = None,
    workers: int = 1,
    extra: str = "",
    study: str = "tiny",
    **kwargs: Any,
) -> SearchConfig:
    from fakes import fake_train

    spec = resolve_spec(archgen.load_spec(write_spec(tmp_path, extra=extra)))
    options: dict[str, Any] = {"trainer": fake_train, "poll_seconds": 0.05, **kwargs}
    return SearchConfig(
        spec=spec,
        study=study,
        # a silent worker is stale after 5 s, not 20; beating every second keeps a live one 5 beats clear of that, as
        # the defaults (every 5 s, stale after 20) keep it 4 beats clear (a beat every 5 s left no margin at all)
        storage=storage_spec(storage, folder=tmp_path / "study", heartbeat_interval=1, grace_period=5),
        trials=trials,
        out=tmp_path / "out",
        workers=workers,
        **options,
    )


# --- a private PostgreSQL server -------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of our own on a free port (as the postgres user when we are root), torn down after."""
    binaries = _pg_bin()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) installed; .ci/run installs Debian's postgresql")
    # not under pytest's tmp folders: those are private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="archgen-pg-"))
    data, port = root / "data", _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chmod(root, 0o777)
    subprocess.run(
        [*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    subprocess.run(
        [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        for _ in range(50):
            if (
                subprocess.run(
                    [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
                ).returncode
                == 0
            ):
                break
            time.sleep(0.2)
        subprocess.run(
            [*run_as, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "archgen"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/archgen"
    finally:
        subprocess.run(
            [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
