"""What a command reads from its arguments before any work: the spec with its `--set` overrides, the data source
checked on disk. Every mistake here is one line before torch is imported (a typo answers at once).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archgen.errors import DataError, printable

if TYPE_CHECKING:
    from archgen.spec import NetSpec
    from archgen.spec.overrides import Override

# The tables a command ignores, and what to say to a `--set` of one.
NOT_TRAINED = {"search": "archgen train does not use the [search] table (archgen search does)"}
NOT_BUILT = {"search": "archgen build does not use the [search] table (archgen search does)"}
FOLDER_KINDS = ("cifar10", "imagefolder", "stream")
_SPLITS = "{0}/train/<class>/<image> and {0}/val/<class>/<image> (or test/)"
LAYOUTS = {"cifar10": "the CIFAR-10 python batches (data_batch_1 to 5, test_batch) in {0}/cifar-10-batches-py or {0}",
           "imagefolder": _SPLITS, "stream": _SPLITS}


def spec_with(spec: str, sets: Sequence[str] | None, *, aliases: Sequence[tuple[str, Any, str]] = (),
              unused: Mapping[str, str] | None = None) -> NetSpec:
    """The spec file or shipped name, loaded (`archgen.load_spec`) and `overridden`."""
    from archgen import load_spec

    return overridden(load_spec(spec), sets, aliases=aliases, unused=unused)


def overridden(spec: NetSpec, sets: Sequence[str] | None, *, aliases: Sequence[tuple[str, Any, str]] = (),
               unused: Mapping[str, str] | None = None) -> NetSpec:
    """`spec` with the options that alias a field (`("train.epochs", 3, "--epochs")`; None: not given) and then
    every `--set` applied, validated with the size limits; a key given twice is said once on stderr."""
    from archgen.analysis import SPEC_CHECKS
    from archgen.spec.overrides import alias, apply_overrides, parse_override

    overrides: list[Override] = [alias(path, value, option) for path, value, option in aliases if value is not None]
    overrides += [parse_override(text) for text in sets or ()]
    applied = apply_overrides(spec, overrides, unused=unused, checks=SPEC_CHECKS)
    for note in applied.notes:
        print(f"note: {note}", file=sys.stderr)
    return applied.spec


def check_data(text: str) -> None:
    """`--data` (or train.data) parsed, and its folder there: a typo or a missing folder answers before torch (the
    data modules check the rest of the layout as they read it)."""
    from archgen.data import parse_source

    source = parse_source(text)
    if source.kind in FOLDER_KINDS and source.path is not None and not _is_folder(source.path):
        shown = printable(str(source.path))
        raise DataError(f"{source.kind}:{shown}: no such folder; expected {LAYOUTS[source.kind].format(shown)}")
    for pattern in (source.path, source.val) if source.kind == "wds" else ():
        if pattern is not None and not _is_folder(pattern.parent):  # shard patterns: their folder must exist
            raise DataError(f"wds:{printable(str(pattern))}: no such folder {printable(str(pattern.parent))}")


def check_file(path: Path, option: str) -> None:
    """A file the command will read (`--init FILE`) is one, before any work."""
    if not path.is_file():
        what = "a folder, not a file" if _is_folder(path) else "no such file"
        raise DataError(f"{option} {printable(str(path))}: {what}")


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False
