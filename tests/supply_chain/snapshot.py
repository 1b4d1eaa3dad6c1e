"""The PyPA advisory snapshot kept in the repository (tests/data/advisories, CC-BY 4.0), loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from services.supply_chain.index import AdvisoryIndex, LoadReport, load_index

ADVISORIES = Path(__file__).resolve().parents[1] / "data" / "advisories"
PYPA_SNAPSHOT = ADVISORIES / "pypa-advisory-database-2024-10-10.tar.gz"


@cache
def pypa_index() -> tuple[AdvisoryIndex, LoadReport]:
    return load_index(PYPA_SNAPSHOT)
