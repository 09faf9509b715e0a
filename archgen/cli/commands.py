"""Imports every command module so that each registers itself on the app (in `archgen --help` order)."""

from archgen.cli import (
    build,
    compare,
    evaluate,
    grow,
    new,
    predict,
    report,
    responses,
    schema,
    search,
    spaces,
    train,
    validate,
)

__all__ = ["build", "compare", "evaluate", "grow", "new", "predict", "report", "responses", "schema", "search",
           "spaces", "train", "validate"]
