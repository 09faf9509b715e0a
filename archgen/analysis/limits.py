"""The largest network archgen agrees to build, checked on the analysis before any memory is spent."""

from __future__ import annotations

from archgen.analysis.complexity import analyze
from archgen.spec.rules import RuleViolation
from archgen.spec.schema import NetSpec

# 1e9 float32 parameters are 4 GB before gradients and optimiser state; the largest paper net has 60M.
MAX_PARAMS = 1_000_000_000


def size_limit_check(spec: NetSpec) -> list[RuleViolation]:
    """A spec check (for `read_spec(checks=…)`): refuse networks beyond MAX_PARAMS parameters."""
    params = analyze(spec).params
    if params <= MAX_PARAMS:
        return []
    message = f"the network would have {params:,} parameters, more than archgen builds (at most {MAX_PARAMS:,})"
    return [(("body",), message)]
