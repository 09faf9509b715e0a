"""Secrets in `--storage` URLs never reach the terminal: a table of hostile URLs (every place libpq, SQLAlchemy and
RFC 3986 let a password sit, percent-encoded, with several `@`, in URLs archgen refuses) through the real CLI,
`archgen search` and `archgen report`, against a closed port so that each also fails with a library's error.

Controls: each URL's storage really is named in the output (so "the secret is absent" is not vacuous), and with
the redaction replaced by the identity the same commands do print the secret (three URLs: a password in the user
info, in the query, in a conninfo string).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from search_helpers import TINY, Ran, run_archgen

import archgen.errors
import archgen.search.storage
from archgen.errors import redact_url, redacted

SECRET = "Sup3rS3cret"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _closed_port()
HOST = f"127.0.0.1:{PORT}"

# (URL, what of it must still be shown: the part that names the storage)
URLS = [
    (f"postgresql://u:{SECRET}@{HOST}/db", HOST),
    (f"postgresql://u@{HOST}/db?password={SECRET}", HOST),
    (f"postgresql://u@{HOST}/db?sslmode=prefer&sslpassword={SECRET}&application_name=x", "application_name=x"),
    (f"postgresql://u@{HOST}/db?oauth_client_secret={SECRET}", HOST),
    (f"postgresql://u@{HOST}/db?pass%77ord={SECRET}", HOST),  # SQLAlchemy decodes the key: libpq gets `password`
    (f"postgresql://u@{HOST}/db?PASSWORD={SECRET}", HOST),
    (f"postgresql://u@{HOST}/db?password=x&password={SECRET}", HOST),
    (f"postgresql://u@{HOST}/db?password=Sup3r+S3cret", HOST),  # `+` is a blank to parse_qsl
    (f"postgresql://u:Sup3r%53%33cret@{HOST}/db", HOST),  # percent-encoded: shown neither way
    (f"postgresql://u:Sup3r@S3cret@{HOST}/db", HOST),  # SQLAlchemy: password `Sup3r`, host `S3cret@127.0.0.1`
    (f"postgresql://u:Sup3r/S3cret@{HOST}/db", HOST),
    (f"postgresql://u:Sup3r?S3cret@{HOST}/db", HOST),
    (f"postgresql://a@b:{SECRET}@{HOST}/db", HOST),  # SQLAlchemy's user may hold `@`
    (f"postgresql+psycopg://u:{SECRET}@{HOST}/db", HOST),
    (f"postgresql://u:{SECRET}@{HOST}/db?x=.log", HOST),  # once taken for a journal file named after the URL
    (f"postgresql://u:{SECRET}@{HOST}/db\n\x1b[2J", HOST),  # control characters after it
    (f"mysql://u:{SECRET}@{HOST}/db", "mysql://"),  # refused before anything runs
    (f"host=127.0.0.1 port={PORT} password={SECRET}", "host=127.0.0.1"),  # a libpq conninfo string: refused
    (f"host=127.0.0.1 password='{SECRET} x'", "host=127.0.0.1"),
]
SHOWN_SECRETS = ["Sup3r", "S3cret", "%53%33"]  # any piece of any spelling of the secret


def ids(urls: list[tuple[str, str]]) -> list[str]:
    """Test ids without the port, which each process draws anew (pytest-xdist's workers must collect alike)."""
    return [url.replace(str(PORT), "PORT") for url, _ in urls]


def leaked(ran: Ran) -> list[str]:
    text = ran.out + ran.err
    return [secret for secret in SHOWN_SECRETS if secret in text]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(TINY)
    return path


def commands(spec: Path, url: str) -> list[list[str]]:
    out = str(spec.parent / "o")
    return [["search", str(spec), "--storage", url, "--trials", "1", "--out", out],
            ["report", "tiny-search", "--storage", url, "--out", out],
            ["report", url]]  # a URL where a study folder belongs: named in the error


@pytest.mark.parametrize(("url", "shown"), URLS, ids=ids(URLS))
def test_no_secret_reaches_the_terminal(spec: Path, capsys: pytest.CaptureFixture[str], url: str,
                                        shown: str) -> None:
    for args in commands(spec, url):
        ran = run_archgen(args, capsys)
        assert ran.code == 1 and "Traceback" not in ran.err, (args, ran)
        assert leaked(ran) == [], (args, ran.out, ran.err)
        assert shown in ran.out + ran.err, (args, ran.out, ran.err)  # control: the storage really is named
        assert "\x1b" not in ran.out + ran.err


# One URL of each kind the redaction handles: a password in the user info, one in the query, a refused conninfo.
UNREDACTED = [URLS[0], URLS[1], URLS[-2]]


@pytest.mark.parametrize(("url", "shown"), UNREDACTED, ids=ids(UNREDACTED))
def test_control_without_redaction_the_secret_is_shown(spec: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, url: str, shown: str) -> None:
    """The same commands, with the one redaction function made the identity: the secret is printed (so the test above
    is not vacuous; three URLs show it, one per place a password sits that the redaction rewrites)."""
    for module in (archgen.errors, archgen.search.storage):
        monkeypatch.setattr(module, "redact_url", lambda url: url)
        monkeypatch.setattr(module, "redacted", lambda text, *, url=None: text)
    texts = [run_archgen(args, capsys) for args in commands(spec, url)]
    assert any(leaked(ran) for ran in texts), texts


def test_redact_url_hides_every_place_a_password_sits() -> None:
    cases = {
        "postgresql://u:pw@h/db": "postgresql://u:***@h/db",
        "postgresql://u@h/db?password=pw&sslmode=require": "postgresql://u@h/db?password=***&sslmode=require",
        "postgresql://u@h:5432/db?sslpassword=k&sslkey=/k.pem": "postgresql://u@h:5432/db?sslpassword=***&sslkey=/k.pem",
        "postgresql://u:p@ss@h/db": "postgresql://u:***@h/db",
        "postgresql://u@h/db?pass%77ord=pw": "postgresql://u@h/db?pass%77ord=***",
        "host=h password='a b' user=u": "host=h password=*** user=u",
        "sqlite:////tmp/s.db": "sqlite:////tmp/s.db",
        "postgresql://u@[::1]:5432/db": "postgresql://u@[::1]:5432/db",
    }
    assert {url: redact_url(url) for url in cases} == cases


def test_redacted_hides_a_urls_secrets_wherever_a_library_echoes_them() -> None:
    url = "postgresql://u:hunter2%40corp@h/db?sslpassword=k3y-k3y"
    message = "could not connect with hunter2@corp (hunter2%40corp), key k3y-k3y; see postgresql://v:x2@h/db"
    assert redacted(message, url=url) == "could not connect with *** (***), key ***; see postgresql://v:***@h/db"
    assert redacted("host \"S3cret@h\" unknown", url="postgresql://u:Sup3r@S3cret@h/db") == 'host "***h" unknown'
