"""Real advisories of the Go vulnerability database (OSV, snapshot of 2026-08-21, CC-BY 4.0, The Go
Authors): versions as go.sum writes them (`v` prefix, pseudo-versions, `+incompatible`) match in
SemVer order."""

from __future__ import annotations

import pytest

from services.supply_chain.index import AdvisoryIndex
from tests.supply_chain.snapshot import go_index


def ids(index: AdvisoryIndex, module: str, version: str) -> set[str]:
    return {m.advisory.id for m in index.matches("Go", module, version)}


def test_the_whole_go_snapshot_loads_without_errors() -> None:
    """All 4,291 entries parse; the 17 withdrawn ones are not indexed."""
    index, report = go_index()
    assert (report.files, report.added, report.withdrawn, report.errors) == (4291, 4274, 17, [])
    assert len(index) == 4274


@pytest.mark.parametrize(
    ("version", "affected"),
    [("v0.16.0", True), ("0.16.0", True), ("v0.0.0-20231201000000-0123456789ab", True), ("v0.17.0", False)],
)
def test_x_crypto_terrapin(version: str, affected: bool) -> None:
    """GO-2023-2402 (CVE-2023-48795): golang.org/x/crypto before 0.17.0, with or without the `v`."""
    index, _ = go_index()
    assert ("GO-2023-2402" in ids(index, "golang.org/x/crypto", version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("v2.6.2+incompatible", True),
        ("v2.7.0-beta.1+incompatible", True),
        ("v2.7.0-rc.0+incompatible", False),
        ("v2.7.1+incompatible", False),
    ],
)
def test_incompatible_versions_order_by_semver_ignoring_the_build_suffix(
    version: str, affected: bool
) -> None:
    """GO-2021-0072: docker/distribution fixed in 2.7.0-rc.0+incompatible; `+incompatible` is build data."""
    index, _ = go_index()
    assert ("GO-2021-0072" in ids(index, "github.com/docker/distribution", version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("v1.0.3", True),
        ("v1.0.4-0.20180101000000-aaaaaaaaaaaa", True),  # a commit before the fix
        ("v1.0.4-0.20180125103619-43913f2f4fbd", False),  # the fix commit itself
        ("v1.0.4-0.20180301000000-bbbbbbbbbbbb", False),  # a later commit
        ("v1.0.4", False),
    ],
)
def test_pseudo_versions_order_by_commit_time(version: str, affected: bool) -> None:
    """GO-2020-0006: miekg/dns fixed at pseudo-version 1.0.4-0.20180125103619-43913f2f4fbd."""
    index, _ = go_index()
    assert ("GO-2020-0006" in ids(index, "github.com/miekg/dns", version)) is affected


def test_go_sum_components_audit_with_aliases_and_fix() -> None:
    """A go.sum's x/crypto v0.16.0 is a finding with its CVE and GHSA aliases and fixed version 0.17.0."""
    index, _ = go_index()
    findings = [
        f for f in index.audit([("Go", "golang.org/x/crypto", "v0.16.0")]) if f.advisory_id == "GO-2023-2402"
    ]
    (finding,) = findings
    assert set(finding.aliases) == {"CVE-2023-48795", "GHSA-45x7-px36-x8w8"}
    assert finding.fixed_versions == ("0.17.0",)
