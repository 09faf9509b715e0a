"""The docs' tests borrow the search tests' private PostgreSQL server for the docs' multi-machine search."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SEARCH_CONFTEST = Path(__file__).parents[1] / "search" / "conftest.py"
_spec = importlib.util.spec_from_file_location("docs_search_conftest", SEARCH_CONFTEST)
assert _spec is not None and _spec.loader is not None
_search = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_search)

postgres_url = _search.postgres_url
