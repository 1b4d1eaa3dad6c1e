"""Real advisories of the RustSec database (OSV export, 2026-08-21, CC0): crates.io versions in Cargo's
SemVer order, `0.0.0-0` lower bounds, `X.Y.Z-0` fixes that cover pre-releases, multi-range events."""

from __future__ import annotations

import pytest

from services.supply_chain.index import AdvisoryIndex
from tests.supply_chain.snapshot import rustsec_index


def ids(index: AdvisoryIndex, crate: str, version: str) -> set[str]:
    return {m.advisory.id for m in index.matches("crates.io", crate, version)}


def test_the_whole_rustsec_snapshot_loads_without_errors() -> None:
    """All 1,206 entries parse; the 13 withdrawn ones are not indexed."""
    index, report = rustsec_index()
    assert (report.files, report.added, report.withdrawn, report.errors) == (1206, 1193, 13, [])
    assert len(index) == 1193


@pytest.mark.parametrize(("version", "affected"), [("0.1.0", True), ("0.9.3", True), ("0.9.4", False)])
def test_hyper_from_the_lowest_version(version: str, affected: bool) -> None:
    """RUSTSEC-2016-0002: hyper from 0.0.0-0 (every version) before 0.9.4."""
    index, _ = rustsec_index()
    assert ("RUSTSEC-2016-0002" in ids(index, "hyper", version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"),
    [("0.3.0", True), ("0.3.1-alpha", False), ("0.3.1", False), ("0.3.1+build.5", False)],
)
def test_a_fix_at_dash_zero_covers_the_pre_releases(version: str, affected: bool) -> None:
    """RUSTSEC-2016-0004: libusb fixed in 0.3.1-0, the lowest pre-release of 0.3.1; build data is ignored."""
    index, _ = rustsec_index()
    assert ("RUSTSEC-2016-0004" in ids(index, "libusb", version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.3.1", False),
        ("0.3.2", True),
        ("0.3.4", False),
        ("0.4.0-beta", True),
        ("0.4.4", True),
        ("0.4.5", False),
        ("0.6.2", True),
        ("0.6.3", False),
        ("1.0.0", False),
    ],
)
def test_several_introduced_fixed_pairs(version: str, affected: bool) -> None:
    """RUSTSEC-2018-0003: smallvec affected in four separate windows (0.3.2-0.3.4, 0.4.0-0..0.4.5, ...)."""
    index, _ = rustsec_index()
    assert ("RUSTSEC-2018-0003" in ids(index, "smallvec", version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"), [("0.10.0-alpha.1", True), ("0.10.0-alpha.3", True), ("0.10.0-alpha.4", False)]
)
def test_pre_release_windows_order_numerically(version: str, affected: bool) -> None:
    """RUSTSEC-2020-0069: lettre 0.10.0-alpha.1 up to, not including, 0.10.0-alpha.4."""
    index, _ = rustsec_index()
    assert ("RUSTSEC-2020-0069" in ids(index, "lettre", version)) is affected


def test_crate_names_fold_dash_and_underscore() -> None:
    """crates.io treats `-` and `_` as one name: generic_array finds RUSTSEC-2020-0146 of generic-array."""
    index, _ = rustsec_index()
    assert "RUSTSEC-2020-0146" in ids(index, "generic_array", "0.12.3")
    assert "RUSTSEC-2020-0146" not in ids(index, "generic-array", "0.12.4")
