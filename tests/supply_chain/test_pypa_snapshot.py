"""Real advisories of the PyPA database snapshot (2024-10-10, CC-BY 4.0): a known-vulnerable version
matches, the fixed version does not."""

from __future__ import annotations

from services.supply_chain.index import AdvisoryIndex
from tests.supply_chain.snapshot import pypa_index


def ids(index: AdvisoryIndex, name: str, version: str) -> set[str]:
    return {m.advisory.id for m in index.matches("PyPI", name, version)}


def test_the_whole_snapshot_loads_without_errors() -> None:
    """All 2,661 records parse; the 10 withdrawn ones are not indexed."""
    index, report = pypa_index()
    assert (report.files, report.added, report.withdrawn, report.errors) == (2661, 2651, 10, [])
    assert len(index) == 2651


def test_aiohttp_static_route_traversal() -> None:
    """PYSEC-2024-24 (CVE-2024-23334): aiohttp from 1.0.5 before 3.9.2; 3.9.2 is fixed."""
    index, _ = pypa_index()
    assert "PYSEC-2024-24" in ids(index, "aiohttp", "3.9.1")
    assert "PYSEC-2024-24" in ids(index, "aiohttp", "1.0.5")
    assert "PYSEC-2024-24" not in ids(index, "aiohttp", "1.0.4")
    assert "PYSEC-2024-24" not in ids(index, "aiohttp", "3.9.2")
    (finding,) = [f for f in index.audit([("PyPI", "aiohttp", "3.9.1")]) if f.advisory_id == "PYSEC-2024-24"]
    assert set(finding.aliases) == {"CVE-2024-23334", "GHSA-5h86-8mv2-jq9f"}
    assert finding.fixed_versions == ("3.9.2",)
    assert finding.severity == "CVSS_V3 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"


def test_jinja2_format_map_sandbox_escape() -> None:
    """PYSEC-2019-217 (CVE-2019-10906): Jinja2 before 2.10.1, found under its PyPI spelling `Jinja2`."""
    index, _ = pypa_index()
    assert "PYSEC-2019-217" in ids(index, "Jinja2", "2.10")
    assert "PYSEC-2019-217" not in ids(index, "Jinja2", "2.10.1")
    assert "PYSEC-2019-217" not in ids(index, "jinja2", "3.1.4")


def test_py_redos_last_affected() -> None:
    """PYSEC-2022-42969 (CVE-2022-42969) uses `last_affected: 1.11.0`: 1.11.0 matches, above it not."""
    index, _ = pypa_index()
    assert "PYSEC-2022-42969" in ids(index, "py", "1.11.0")
    assert "PYSEC-2022-42969" in ids(index, "py", "1.4.7.dev3")
    assert "PYSEC-2022-42969" not in ids(index, "py", "1.11.1")


def test_withdrawn_redis_record_matches_nothing() -> None:
    """PYSEC-2023-73 (withdrawn 2023-06-06, `introduced: 0` with no fix) flags no redis version."""
    index, _ = pypa_index()
    assert index.get("PYSEC-2023-73") is None
    assert "PYSEC-2023-73" not in ids(index, "redis", "4.5.5")
