"""Hostile study storages through `archgen search` / `archgen report`: a torn last journal record, files that are
not storages, read-only and unwritable places, bad or silent PostgreSQL servers, unknown URL schemes, and workers
racing to create a new database. Each fails with one line naming the storage (no traceback), or is repaired.

Controls: the torn record breaks plain Optuna's journal (so the repair is what saves it), and the table-creation
race really happens when archgen does not retry.
"""

from __future__ import annotations

import multiprocessing
import random
import socket
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from search_helpers import (
    PG_PASSWORD,
    TINY,
    audit,
    make_config,
    one_line_error,
    postgres_password_url,
    run_archgen,
    start_worker,
)

from archgen.errors import SearchError
from archgen.search import open_study, optimize
from archgen.search.journal import TORN_SUFFIX, cut_torn_tail

__all__ = ["postgres_password_url"]

HALF_RECORD = b'{"op_code":6,"worker_id":"0-1","trial_id":1,"state":1,"val'  # a worker killed mid-append


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(TINY)
    return path


def search(spec: Path, storage: str, capsys: pytest.CaptureFixture[str], *more: str) -> object:
    return run_archgen(["search", str(spec), "--storage", storage, "--trials", "1", "--out", str(spec.parent / "o"),
                        *more], capsys)


# --- a torn last line in the journal file ----------------------------------------------------------------


def journal_with_trials(tmp_path: Path, trials: int) -> Path:
    """A journal whose trials were run by a worker process that has exited (so no trial is this process's)."""
    worker = start_worker(tmp_path, trials=trials, storage=str(tmp_path / "j.log"), study="tiny-search", env={})
    assert worker.wait(timeout=120) == 0
    return tmp_path / "j.log"


def test_control_a_torn_record_breaks_plain_optunas_journal(tmp_path: Path) -> None:
    """Optuna appends the next record onto the half one: that record is lost, and the worker fails."""
    path = tmp_path / "plain.log"
    storage = JournalStorage(JournalFileBackend(str(path)))
    optuna.create_study(storage=storage, study_name="s").ask()
    with path.open("ab") as file:
        file.write(HALF_RECORD)
    resumed = optuna.load_study(storage=JournalStorage(JournalFileBackend(str(path))), study_name="s")
    with pytest.raises((ValueError, AttributeError)):  # its trial record merged into the torn line and vanished
        resumed.ask()
    assert b'"val{"op_code"' in path.read_bytes()  # the merged line, unreadable for ever


@pytest.mark.slow
def test_a_torn_half_record_is_cut_and_the_study_resumes_exactly(tmp_path: Path) -> None:
    journal = journal_with_trials(tmp_path, 3)
    with journal.open("ab") as file:
        file.write(HALF_RECORD)
    assert not journal.read_bytes().endswith(b"\n")  # control: the last line really is torn
    config = make_config(tmp_path, trials=5, storage=str(journal), study="tiny-search")
    assert optimize(config).verdict == "done"
    found = audit(open_study(config).trials)
    assert found.counted == 5 and not found.running and not found.duplicate_numbers
    assert journal.with_name(journal.name + TORN_SUFFIX).read_bytes() == HALF_RECORD + b"\n"  # kept, not destroyed
    plain = optuna.load_study(storage=JournalStorage(JournalFileBackend(str(journal))), study_name="tiny-search")
    assert len(plain.trials) == len(open_study(config).trials)  # the repaired journal reads in plain Optuna too


@pytest.mark.slow
def test_a_torn_last_real_record_costs_only_its_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Truncating mid-record the last thing a (dead) worker wrote: that trial is failed and retried; none lost."""
    journal = journal_with_trials(tmp_path, 3)
    data = journal.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(data[: last + (len(data) - last) // 2])
    counted_before = audit(optuna.load_study(storage=JournalStorage(JournalFileBackend(str(journal))),
                                             study_name="tiny-search").trials).counted
    assert counted_before in (2, 3)  # control: the torn record belonged to the last trial's ending
    config = make_config(tmp_path, trials=4, storage=str(journal), study="tiny-search")
    assert optimize(config).verdict == "done"
    found = audit(open_study(config).trials)
    assert found.counted == 4 and not found.running
    ran = run_archgen(["report", str(journal), "--out", str(tmp_path / "r")], capsys)
    assert ran.code == 0 and "Traceback" not in ran.err, ran.err


def test_cut_torn_tail_keeps_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    assert cut_torn_tail(path) == 5 and path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    assert cut_torn_tail(path) == 0 and path.read_bytes() == b'{"a":1}\n{"b":2}\n'
    path.write_bytes(b'{"only":')
    assert cut_torn_tail(path) == 8 and path.read_bytes() == b""


# --- files that are not storages, and places archgen cannot write ----------------------------------------


@pytest.mark.parametrize(("content", "kind"), [
    (random.Random(1).randbytes(300).replace(b"\n", b"") + b"\n\xff\xfe\n", "UnicodeDecodeError"),
    (random.Random(2).randbytes(300).replace(b"\n", b"").replace(b"{", b""), "no record torn by a kill"),
    (b'{"op_code":0,"worker_id":"x"' + b"\n" + b"[1, 2]\n", "JSONDecodeError"),
    (b"[1, 2]\n", "not an Optuna journal operation"),
    (b'{"op_code": 0}\n', "KeyError"),
])
def test_a_journal_that_is_not_a_journal(spec: Path, capsys: pytest.CaptureFixture[str], content: bytes,
                                         kind: str) -> None:
    journal = spec.parent / "bad.log"
    journal.write_bytes(content)
    line = one_line_error(search(spec, str(journal), capsys), naming=str(journal))
    assert "damaged or not an Optuna journal" in line and kind in line


def test_an_sqlite_file_that_is_not_a_database(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = spec.parent / "bad.db"
    database.write_bytes(b"SQLite format 2\x00" + random.Random(3).randbytes(2000))
    line = one_line_error(search(spec, f"sqlite:///{database}", capsys), naming=str(database))
    assert "file is not a database" in line


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_an_empty_file_is_a_new_study(tmp_path: Path, storage: str) -> None:
    """Accepted: an empty journal has no records yet, and SQLite treats an empty file as a new database."""
    path = tmp_path / ("e.log" if storage == "journal" else "e.db")
    path.write_bytes(b"")
    url = str(path) if storage == "journal" else f"sqlite:///{path}"
    config = make_config(tmp_path, trials=2, storage=url)
    assert optimize(config).verdict == "done" and audit(open_study(config).trials).counted == 2


# --- storages that name no file, or a file in a folder that does not exist -------------------------------------

NO_FILE = ["sqlite:///", "sqlite:///?timeout=3", "sqlite:////", "sqlite:///{dir}/", "sqlite:///{dir}", "journal:",
           "journal:{dir}/", "postgresql:///", "postgresql://u@127.0.0.1", "postgresql://u@127.0.0.1/"]


def commands(spec: Path, storage: str) -> list[list[str]]:
    """Both commands that take --storage: a search, and a report of a study there."""
    out = str(spec.parent / "o")
    return [["search", str(spec), "--storage", storage, "--trials", "1", "--out", out],
            ["report", "tiny-search", "--storage", storage, "--out", out]]


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("storage", NO_FILE)
def test_a_storage_that_names_no_file_is_one_line(spec: Path, capsys: pytest.CaptureFixture[str],
                                                  storage: str) -> None:
    """An empty path (or database), or a folder, where a storage's file belongs: refused in one line before anything
    is opened or created, whatever the kind (it was a traceback for sqlite:///)."""
    (spec.parent / "d").mkdir()
    storage = storage.format(dir=spec.parent / "d")
    before = listing(spec.parent)
    for args in commands(spec, storage):
        line = one_line_error(run_archgen(args, capsys), naming=f"--storage '{storage}'")
        assert "names no file" in line or "names no database" in line
        assert listing(spec.parent) == before


@pytest.mark.parametrize("storage", ["{tmp}/nowhere/deeper/j.log", "journal:{tmp}/nowhere/j", "nowhere/j.log",
                                     "sqlite:///{tmp}/nowhere/x.db"])
def test_a_storage_in_a_missing_folder_is_refused_not_created(spec: Path, capsys: pytest.CaptureFixture[str],
                                                              storage: str) -> None:
    """archgen creates no folder the user named (as `build --export --out`): a journal's folders used to be made."""
    storage = storage.format(tmp=spec.parent)
    for args in commands(spec, storage):
        line = one_line_error(run_archgen(args, capsys), naming=f"--storage '{storage}'")
        assert line.endswith("nowhere/deeper does not exist" if "deeper" in storage else "nowhere does not exist")
        assert not (spec.parent / "nowhere").exists() and not Path("nowhere").exists()


@pytest.mark.parametrize("storage", ["{tmp}/j.log", "journal:{tmp}/j", "sqlite:///{tmp}/x.db", None])
def test_control_a_file_in_a_folder_that_exists_is_a_study(tmp_path: Path, storage: str | None) -> None:
    """The same kinds, naming a file in a folder that is there, search as ever; and without --storage archgen
    creates its own study folder (runs/<study>/, here the tests' study/)."""
    config = make_config(tmp_path, trials=1, storage=storage and storage.format(tmp=tmp_path))
    assert not (tmp_path / "study").exists()
    assert optimize(config).verdict == "done"
    assert (tmp_path / "study" / "journal.log").is_file() == (storage is None)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["read-only journal", "unwritable folder (journal)", "unwritable folder (sqlite)",
                                  "read-only sqlite"])
def test_read_only_storage(tmp_path: Path, case: str) -> None:
    from search_helpers import archgen_process

    (tmp_path / "space.toml").write_text(TINY)
    locked = tmp_path / "locked"
    locked.mkdir()
    if case == "read-only journal":
        journal = locked / "j.log"
        journal.write_bytes(b"")
        journal.chmod(0o444)
        storage, naming, message = str(journal), str(journal), "cannot write the study journal"
    elif case == "read-only sqlite":
        database = locked / "s.db"
        assert optimize(make_config(tmp_path, trials=1, storage=f"sqlite:///{database}", study="other")).verdict
        database.chmod(0o444)
        # Optuna hides the database's "readonly" behind its own words; archgen adds the study and the URL
        storage, message = f"sqlite:///{database}", "during the commit"
        naming = f"cannot open study 'tiny-search' in {storage}"
    else:
        name = "j.log" if "journal" in case else "s.db"
        storage = str(locked / name) if "journal" in case else f"sqlite:///{locked / name}"
        naming = str(locked / name)
        message = "cannot create the study journal" if "journal" in case else "unable to open database file"
    locked.chmod(0o555)
    try:
        ran = archgen_process("search", "space.toml", "--storage", storage, "--trials", "1", "--out", "o",
                              cwd=tmp_path, user_caps=True)
    finally:
        locked.chmod(0o755)
    line = one_line_error(ran, naming=naming)
    assert message in line


# --- PostgreSQL URLs that cannot work, and URLs archgen does not take --------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("url", "message"), [
    (f"postgresql://postgres:pw@127.0.0.1:{_closed_port()}/archgen", "Connection refused"),
    ("postgresql://postgres:pw@no-such-host.invalid/archgen", "failed to resolve host"),
    ("postgresql+nosuchdriver://postgres@127.0.0.1/archgen", "cannot open the storage"),
], ids=["closed-port", "unknown-host", "unknown-driver"])  # no port in an id: pytest-xdist's workers collect alike
def test_an_unreachable_postgres_fails_fast_in_one_line(spec: Path, capsys: pytest.CaptureFixture[str], url: str,
                                                        message: str) -> None:
    line = one_line_error(search(spec, url, capsys), naming=url.split("@")[1])
    assert message in line and ":pw@" not in line  # the password is never shown


@pytest.mark.slow
def test_a_silent_postgres_server_times_out_in_seconds(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server that accepts the connection and never answers (a hung host): libpq would wait for ever."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        url = f"postgresql://postgres@127.0.0.1:{server.getsockname()[1]}/archgen"
        line = one_line_error(search(spec, url, capsys), naming=url)
    assert "timeout" in line


@pytest.mark.postgres
@pytest.mark.slow
def test_a_wrong_password_or_database_is_one_line(spec: Path, capsys: pytest.CaptureFixture[str],
                                                  postgres_password_url: str) -> None:
    wrong = postgres_password_url.replace(PG_PASSWORD, "wrong-password")
    line = one_line_error(search(spec, wrong, capsys), naming=wrong.split("@")[1])
    assert "password authentication failed" in line and "wrong-password" not in line
    no_db = postgres_password_url.rsplit("/", 1)[0] + "/nosuchdb"
    line = one_line_error(search(spec, no_db, capsys), naming="nosuchdb")
    assert "does not exist" in line and PG_PASSWORD not in line


@pytest.mark.parametrize("url", ["mysql://u@h/db", "redis://localhost", "sqlite://relative.db", "file.json",
                                 "sqlite:///:memory:"])
def test_an_unsupported_storage_is_refused_before_anything_runs(spec: Path, capsys: pytest.CaptureFixture[str],
                                                                 url: str) -> None:
    one_line_error(search(spec, url, capsys), naming=url)


# --- workers creating a new database at the same moment ----------------------------------------------------


def _open(url: str, attempts: int, failures: object) -> None:
    import archgen.search.storage as storage

    storage.SCHEMA_ATTEMPTS = attempts
    try:
        storage.open_storage(storage.storage_spec(url, folder=Path(".")))
    except SearchError:
        failures.value += 1  # type: ignore[attr-defined]


def _race(tmp_path: Path, *, attempts: int, rounds: int) -> int:
    context = multiprocessing.get_context("spawn")
    failures = context.Value("i", 0)
    for index in range(rounds):
        url = f"sqlite:///{tmp_path / f'race-{attempts}-{index}.db'}"
        processes = [context.Process(target=_open, args=(url, attempts, failures)) for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if attempts == 1 and failures.value:
            break
    return int(failures.value)


@pytest.mark.slow
def test_workers_creating_a_new_sqlite_study_at_once_all_open_it(tmp_path: Path) -> None:
    assert _race(tmp_path, attempts=1, rounds=12) > 0  # control: without retrying, one of them loses the race
    assert _race(tmp_path, attempts=4, rounds=4) == 0
