"""Severity: CVSS v2, v3.x and v4.0 vectors scored (with the `cvss` library), OSV `severity` entries
preferred newest-version first, and `database_specific.severity` words as the fallback."""

from __future__ import annotations

import pytest

from services.supply_chain.osv import Advisory
from services.supply_chain.severity import (
    InvalidVector,
    Rating,
    advisory_score,
    rating_for,
    score_vector,
)
from tests.supply_chain.snapshot import rustsec_index

V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V4_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@pytest.mark.parametrize(
    ("vector", "method", "score", "rating"),
    [
        (V3_CRITICAL, "CVSS_V3", 9.8, Rating.CRITICAL),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS_V3", 9.8, Rating.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "CVSS_V3", 7.5, Rating.HIGH),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "CVSS_V3", 6.1, Rating.MEDIUM),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "CVSS_V3", 0.0, Rating.NONE),
        (V4_CRITICAL, "CVSS_V4", 9.3, Rating.CRITICAL),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "CVSS_V4", 0.0, Rating.NONE),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSS_V2", 7.5, Rating.HIGH),
    ],
)
def test_vectors_score_as_the_specifications_compute(
    vector: str, method: str, score: float, rating: Rating
) -> None:
    """Known base scores: 9.8 / 7.5 / 6.1 / 0 (v3), 9.3 / 0 (v4, FIRST's calculator), 7.5 (v2)."""
    scored = score_vector(vector)
    assert (scored.method, scored.base_score, scored.rating) == (method, score, rating)


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L",
        "CVSS:4.0/AV:N",
        "CVSS:5.0/AV:N",
        "high",
    ],
)
def test_malformed_vectors_are_refused(vector: str) -> None:
    """Unknown values, missing base metrics, an unknown version or no vector at all: InvalidVector."""
    with pytest.raises(InvalidVector):
        score_vector(vector)


def test_rating_bands() -> None:
    """The bands CVSS v3 and v4 share: 0 none, 0.1-3.9 low, 4-6.9 medium, 7-8.9 high, 9-10 critical."""
    assert [rating_for(s) for s in (0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10)] == [
        Rating.NONE,
        Rating.LOW,
        Rating.LOW,
        Rating.MEDIUM,
        Rating.MEDIUM,
        Rating.HIGH,
        Rating.HIGH,
        Rating.CRITICAL,
        Rating.CRITICAL,
    ]


def advisory(**fields: object) -> Advisory:
    base: dict[str, object] = {
        "id": "OSV-SEV-1",
        "modified": "2025-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}}],
    }
    return Advisory.model_validate(base | fields)


def test_v4_wins_over_v3_and_the_entry_over_the_advisory() -> None:
    """With v3 and v4 vectors, v4 is used; an affected entry's own severity beats the advisory's."""
    both = advisory(
        severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}, {"type": "CVSS_V4", "score": V4_CRITICAL}]
    )
    assert advisory_score(both, both.affected[0]).method == "CVSS_V4"  # type: ignore[union-attr]
    entry_own = advisory(
        severity=[{"type": "CVSS_V3", "score": V3_CRITICAL}],
        affected=[
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
            }
        ],
    )
    assert advisory_score(entry_own, entry_own.affected[0]).base_score == 7.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("word", "rating"),
    [("LOW", Rating.LOW), ("MODERATE", Rating.MEDIUM), ("HIGH", Rating.HIGH), ("CRITICAL", Rating.CRITICAL)],
)
def test_database_specific_words_are_the_fallback(word: str, rating: Rating) -> None:
    """GitHub's database_specific.severity words rate an advisory that has no vector."""
    scored = advisory_score(advisory(database_specific={"severity": word}))
    assert scored is not None
    assert (scored.method, scored.rating, scored.base_score) == (
        "database",
        rating,
        None,
    )


def test_a_malformed_vector_falls_through_to_the_word() -> None:
    """An unreadable vector does not hide the database's word; no severity at all gives None."""
    broken = advisory(
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:Q"}], database_specific={"severity": "HIGH"}
    )
    assert advisory_score(broken) == advisory_score(advisory(database_specific={"severity": "HIGH"}))
    assert advisory_score(advisory()) is None


def test_every_vector_of_the_rustsec_snapshot_scores() -> None:
    """All CVSS v3 and v4 vectors of the RustSec snapshot (CC0) are read; RUSTSEC-2026-0146 is v4."""
    index, _ = rustsec_index()
    seen = {"CVSS_V3": 0, "CVSS_V4": 0}
    for ecosystem, name in index.packages():
        for record in index.advisories_for(ecosystem, name):
            for entry in record.severity:
                seen[entry.type] += 1
                score_vector(entry.score)
    assert seen["CVSS_V3"] > 300
    assert seen["CVSS_V4"] > 50
    record = index.get("RUSTSEC-2026-0146")
    assert record is not None
    scored = advisory_score(record, record.affected[0])
    assert scored is not None
    assert scored.method == "CVSS_V4"
    assert scored.vector == record.severity[0].score
