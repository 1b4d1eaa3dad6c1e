"""The advisory snapshots kept in the repository (tests/data/advisories: PyPA and Go CC-BY 4.0,
RustSec CC0), each loaded once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from services.supply_chain.index import AdvisoryIndex, LoadReport, load_index

ADVISORIES = Path(__file__).resolve().parents[1] / "data" / "advisories"
PYPA_SNAPSHOT = ADVISORIES / "pypa-advisory-database-2024-10-10.tar.gz"


@cache
def pypa_index() -> tuple[AdvisoryIndex, LoadReport]:
    return load_index(PYPA_SNAPSHOT)


GO_SNAPSHOT = ADVISORIES / "go-vulndb-osv-2026-12-02.tar.gz"
RUSTSEC_SNAPSHOT = ADVISORIES / "rustsec-osv-2026-12-02.tar.gz"


@cache
def go_index() -> tuple[AdvisoryIndex, LoadReport]:
    """The Go vulnerability database's OSV entries (CC-BY 4.0, The Go Authors)."""
    return load_index(GO_SNAPSHOT)


@cache
def rustsec_index() -> tuple[AdvisoryIndex, LoadReport]:
    """The RustSec advisory database's OSV export (CC0)."""
    return load_index(RUSTSEC_SNAPSHOT)
