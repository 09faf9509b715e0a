"""Names from outside archgen (files, class folders, folders, `--data` text, bytes in a pickle) reach a message
escaped: an ESC sequence, a newline or U+202E never drives the terminal, and the message stays one line.

Control, for each: the raw name really holds control characters, and with the module's `printable` replaced by the
identity the same message would carry them (so the assertion sees a missing escape).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from fake_data import write_cifar_batches, write_image_folder
from tiny import tiny_spec
from train_helpers import ENV, one_error_line

from archgen.data import ImageData, Split, load_data
from archgen.errors import ArchgenError, printable
from archgen.training import fit_to_data

EVIL = "\x1b[31mred\u202e\nline"  # colour, right-to-left override, newline
CAT = Path("train") / "cat"


def _broken_file(tmp_path: Path) -> str:
    root = write_image_folder(tmp_path / "images")
    (root / CAT / f"{EVIL}.png").write_text("not an image")
    return f"imagefolder:{root}"


def _unknown_class(tmp_path: Path) -> str:
    root = write_image_folder(tmp_path / "images")
    (root / "val" / EVIL).mkdir()
    return f"imagefolder:{root}"


def _empty_class(tmp_path: Path) -> str:
    root = write_image_folder(tmp_path / "images")
    (root / "train" / EVIL).mkdir()
    return f"imagefolder:{root}"


def _missing_root(tmp_path: Path) -> str:
    return f"imagefolder:{tmp_path / EVIL}"


def _missing_cifar(tmp_path: Path) -> str:
    write_cifar_batches(tmp_path / EVIL)
    (tmp_path / EVIL / "cifar-10-batches-py" / "test_batch").unlink()
    return f"cifar10:{tmp_path / EVIL}"


def _planted_cifar(tmp_path: Path) -> str:
    """A pickle that calls `EVIL.EVIL()` (protocol 4's STACK_GLOBAL: the names are any text in the file's bytes)."""
    folder = write_cifar_batches(tmp_path / "c")
    name = b"\x8c" + bytes([len(EVIL.encode())]) + EVIL.encode()  # SHORT_BINUNICODE
    (folder / "data_batch_1").write_bytes(b"\x80\x04" + name + name + b"\x93)R.")  # STACK_GLOBAL, (), REDUCE, STOP
    with pytest.raises(ModuleNotFoundError, match="No module named"):  # control: a plain unpickler looks it up
        pickle.loads((folder / "data_batch_1").read_bytes())
    return f"cifar10:{tmp_path / 'c'}"


CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "a broken image's file name": (_broken_file, "archgen.data.folder"),
    "a class folder only in val/": (_unknown_class, "archgen.data.folder"),
    "an empty class folder": (_empty_class, "archgen.data.folder"),
    "a missing image folder": (_missing_root, "archgen.data.folder"),
    "a CIFAR folder missing a batch": (_missing_cifar, "archgen.data.cifar"),
    "a module named in a pickle": (_planted_cifar, "archgen.data.cifar"),
    "an unknown --data kind": (lambda tmp_path: EVIL, "archgen.data.source"),
    "a --data synthetic option": (lambda tmp_path: f"synthetic:3x8x8,{EVIL}", "archgen.data.source"),
    "a --data synthetic shape": (lambda tmp_path: f"synthetic:{EVIL}", "archgen.data.source"),
    "a --data synthetic number": (lambda tmp_path: f"synthetic:3x8x8,train={EVIL}", "archgen.data.source"),
    "a --data folder with a NUL": (lambda tmp_path: f"imagefolder:{EVIL}\0", "archgen.data.source"),
}


def _message(source: str) -> str:
    with pytest.raises(ArchgenError) as error:
        load_data(source, size=12)
    return str(error.value)


@pytest.mark.parametrize("case", list(CASES))
def test_a_name_from_outside_is_escaped_in_the_message(tmp_path: Path, case: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    make, module = CASES[case]
    source = make(tmp_path)
    assert not EVIL.isprintable()  # control: the raw name holds ESC, U+202E and a newline
    message = _message(source)
    assert message.isprintable() and printable(EVIL) in message, message
    monkeypatch.setattr(f"{module}.printable", lambda text: text)
    assert not _message(source).isprintable()  # control: unescaped, the same message would carry them


def test_a_source_named_by_the_user_is_escaped_in_notes() -> None:
    """fit_to_data's notes (shown before training) quote the source; resizing quotes it in its refusal too."""
    images = torch.zeros((2, 1, 8, 8), dtype=torch.uint8)
    data = ImageData(f"imagefolder:/{EVIL}", Split(images, torch.tensor([0, 1])), Split(images, torch.tensor([0, 1])),
                     class_names=("a", "b"))
    notes = fit_to_data(tiny_spec(), data).notes
    assert notes and all(note.isprintable() for note in notes) and printable(EVIL) in notes[0]


def test_a_file_name_that_is_not_utf8_is_escaped(tmp_path: Path) -> None:
    """Names are bytes on Linux: b'\\xff\\x1b' reads as surrogates, which printing raw would crash on."""
    root = write_image_folder(tmp_path / "images")
    with open(os.path.join(bytes(root / CAT), b"\xff\x1b[2J.png"), "w") as file:
        file.write("not an image")
    message = _message(f"imagefolder:{root}")
    assert message.isprintable() and "\\udcff\\x1b[2J.png: not an image" in message


@pytest.mark.slow
def test_the_cli_shows_an_escaped_file_name_on_one_line(tmp_path: Path) -> None:
    source = _broken_file(tmp_path)
    assert (tmp_path / "images" / CAT / f"{EVIL}.png").is_file()  # control: the file holds the raw name
    done = subprocess.run([sys.executable, "-m", "archgen", "train", "--data", source, "--epochs", "1",
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 1
    line = one_error_line(done)
    assert done.stderr == line + "\n" and line.isprintable()
    assert line.endswith(f"{printable(EVIL)}.png: not an image archgen can read (cannot identify image file "
                         f"'{printable(str(tmp_path / 'images' / CAT / EVIL))}.png')")
