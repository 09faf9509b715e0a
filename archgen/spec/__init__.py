"""The spec language: pydantic models, TOML loading with located errors, and the shipped library.

Imports no torch, so `archgen validate` and the search's budget filter stay instant.
"""

from archgen.spec.loader import parse_spec, read_spec, resolve_spec_path
from archgen.spec.schema import Body, Head, Input, NetSpec, Stage, Stem, Train

__all__ = [
    "Body",
    "Head",
    "Input",
    "NetSpec",
    "Stage",
    "Stem",
    "Train",
    "parse_spec",
    "read_spec",
    "resolve_spec_path",
]
