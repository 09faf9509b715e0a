"""Search fault helpers: tests/search's tiny spec and fakes, workers to SIGKILL, an audit of a study's trials, a
password-protected PostgreSQL server of our own, and `archgen` run in-process through its real error boundary."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest

SEARCH_TESTS = Path(__file__).resolve().parents[1] / "search"
sys.path.insert(0, str(SEARCH_TESTS))  # `fakes` here and, through the environment, in worker processes


def _load_search_conftest() -> Any:
    """tests/search/conftest.py under its own name (`conftest` may be another folder's in sys.modules)."""
    spec = importlib.util.spec_from_file_location("search_conftest", SEARCH_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_conftest"] = module
    spec.loader.exec_module(module)
    return module


search_conftest = _load_search_conftest()
TINY: str = search_conftest.TINY
make_config = search_conftest.make_config
write_spec = search_conftest.write_spec
share_among = search_conftest.share_among
PG_PASSWORD = "s3cret-pw"

GRID = TINY[: TINY.index("[search]")] + (
    '[search]\nepochs = 1\npruner = "none"\nsampler = "grid"\n[search.params]\n'
    '"body.residual" = { choices = [false, true] }\n"body.depths.*" = { choices = [1, 2] }\n'
    '"body.width" = { choices = [4, 8] }\n'
)  # 2 x 2 x 2 x 2 = 16 points


def storage_url(kind: str, tmp_path: Path, postgres: str | None = None) -> str | None:
    """--storage for a storage kind: the default journal file, an SQLite file, or the PostgreSQL URL."""
    if kind == "journal":
        return None
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    assert postgres is not None
    return postgres


# --- auditing a study ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """What is wrong with a finished study's trials, if anything (empty lists: nothing)."""

    counted: int
    duplicate_numbers: list[int]
    duplicate_points: list[tuple[Any, ...]]
    running: list[int]


def audit(trials: list[optuna.trial.FrozenTrial]) -> Audit:
    """Counted trials, trial numbers seen twice, counted points trained twice, and trials left RUNNING."""
    from archgen.search import record as outcome

    counted = [trial for trial in trials if outcome.counts(trial)]
    numbers = Counter(trial.number for trial in trials)
    points = Counter(tuple(sorted(trial.params.items())) for trial in counted)
    return Audit(
        counted=len(counted),
        duplicate_numbers=sorted(number for number, seen in numbers.items() if seen > 1),
        duplicate_points=sorted(point for point, seen in points.items() if seen > 1),
        running=[trial.number for trial in trials if trial.state == optuna.trial.TrialState.RUNNING],
    )


# --- workers in their own processes ----------------------------------------------------------------------

WORKER = """
import sys
sys.path.insert(0, {here!r})
from search_helpers import make_config, write_spec
from archgen.search import work
from pathlib import Path
work(make_config(Path({tmp!r}), trials={trials}, storage={storage!r}, study={study!r}))
"""


def start_worker(
    tmp_path: Path, *, trials: int, storage: str | None, study: str, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    here = str(Path(__file__).parent)
    code = WORKER.format(here=here, tmp=str(tmp_path), trials=trials, storage=storage, study=study)
    said = tmp_path / f"worker-{len(list(tmp_path.glob('worker-*.stderr')))}.stderr"
    with said.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env}, stderr=stderr)
    _STDERR[process.pid] = said
    return process


_STDERR: dict[int, Path] = {}


def stderr_of(process: subprocess.Popen[bytes], *, tail: int = 4000) -> str:
    """The end of what a started worker wrote to stderr: a failing test's message carries the worker's traceback."""
    return _STDERR[process.pid].read_text(errors="replace")[-tail:]


def wait_for(path: Path, *, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} never appeared"


# --- archgen as a user runs it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run_archgen(args: list[str], capsys: pytest.CaptureFixture[str]) -> Ran:
    """`archgen ARGS` in this process through archgen.cli.main, the boundary that turns errors into lines."""
    from archgen.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def archgen_process(*args: str, cwd: Path, timeout: float = 120, user_caps: bool = False) -> Ran:
    """`python -m archgen ARGS` in a subprocess; `user_caps`: as root without the capability to ignore file modes."""
    prefix = []
    if user_caps and os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "archgen", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def one_line_error(ran: Ran, *, naming: str) -> str:
    """The single `error:` line a failed command printed; asserts there is no traceback and it names `naming`."""
    assert ran.code == 1, (ran.code, ran.out, ran.err)
    assert "Traceback" not in ran.err + ran.out, ran.err
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    assert naming in lines[0], lines[0]
    return lines[0]


# --- a PostgreSQL server with password authentication ----------------------------------------------------


def _pg_bin() -> Path | None:
    return search_conftest._pg_bin()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def postgres_password_url() -> Iterator[str]:
    """A private PostgreSQL server that checks passwords (scram-sha-256), so a wrong one is refused."""
    binaries = _pg_bin()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) installed; .ci/run installs Debian's postgresql")
    root = Path(tempfile.mkdtemp(prefix="archgen-pg-faults-"))
    data, port = root / "data", search_conftest._free_port()
    (root / "pw").write_text(PG_PASSWORD + "\n")
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chmod(root, 0o777)
        os.chmod(root / "pw", 0o644)
    init = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8"]
    subprocess.run([*run_as, *init, f"--pwfile={root / 'pw'}"], check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    pg_ctl = str(binaries / "pg_ctl")
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
    subprocess.run([*run_as, *start], check=True, capture_output=True)
    try:
        environment = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        create = [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "archgen"]
        subprocess.run(create, check=True, capture_output=True, env=environment)
        yield f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{port}/archgen"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
