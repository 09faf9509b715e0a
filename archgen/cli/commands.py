"""Imports every command module so that each registers itself on the app (in `archgen --help` order)."""

from archgen.cli import build, compare, grow, new, report, responses, schema, search, train, validate

__all__ = ["build", "compare", "grow", "new", "report", "responses", "schema", "search", "train", "validate"]
