"""Severity of an advisory: CVSS vectors scored with the `cvss` library (v2, v3.0, v3.1 and v4.0: its
CVSS4 class implements FIRST's v4.0 MacroVector scoring, so we write none of it), else the word a
database gives (`database_specific.severity`: GitHub's LOW/MODERATE/HIGH/CRITICAL and the like).

One advisory may carry several vectors: the newest CVSS version wins (v4 over v3 over v2), the
affected entry's own before the advisory's, because a newer version is the database's latest word
on it. Ratings follow the bands both v3 and v4 define (0 none, < 4 low, < 7 medium, < 9 high).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from services.supply_chain.osv import Advisory, Affected, Severity


class Rating(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Rating).index(self)


class InvalidVector(ValueError):
    """A CVSS vector the `cvss` library refuses (unknown metric, missing base metric, bad prefix)."""


@dataclass(frozen=True)
class Score:
    method: str
    """`CVSS_V2`, `CVSS_V3`, `CVSS_V4` (OSV's names), or `database` for a database's word."""
    rating: Rating
    base_score: float | None = None
    vector: str | None = None


_WORDS = {
    "none": Rating.NONE,
    "informational": Rating.NONE,
    "low": Rating.LOW,
    "moderate": Rating.MEDIUM,
    "medium": Rating.MEDIUM,
    "high": Rating.HIGH,
    "important": Rating.HIGH,
    "critical": Rating.CRITICAL,
}
_PREFERENCE = {"CVSS_V4": 0, "CVSS_V3": 1, "CVSS_V2": 2}


def rating_for(score: float) -> Rating:
    if score == 0:
        return Rating.NONE
    if score < 4:
        return Rating.LOW
    if score < 7:
        return Rating.MEDIUM
    if score < 9:
        return Rating.HIGH
    return Rating.CRITICAL


def score_vector(vector: str) -> Score:
    """A CVSS vector's base score and rating; its version is read from its prefix (v2 has none)."""
    vector = vector.strip()
    try:
        if vector.startswith("CVSS:4.0/"):
            v4 = CVSS4(vector)
            return Score("CVSS_V4", Rating(str(v4.severity).lower()), float(v4.base_score), vector)
        if vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(vector)
            return Score("CVSS_V3", rating_for(float(v3.base_score)), float(v3.base_score), vector)
        if vector.startswith("AV:") or vector.startswith("(AV:"):
            v2 = CVSS2(vector.strip("()"))
            return Score("CVSS_V2", _v2_rating(float(v2.base_score)), float(v2.base_score), vector)
    except (CVSSError, ValueError, KeyError) as error:
        raise InvalidVector(f"{vector!r}: {error}") from error
    raise InvalidVector(f"{vector!r} is not a CVSS v2, v3.x or v4.0 vector")


def _v2_rating(score: float) -> Rating:
    # NVD's bands for v2, which has no rating of its own and no "critical".
    if score < 4:
        return Rating.LOW
    return Rating.MEDIUM if score < 7 else Rating.HIGH


def word_rating(word: str) -> Rating | None:
    return _WORDS.get(word.strip().lower())


def advisory_score(advisory: Advisory, affected: Affected | None = None) -> Score | None:
    """The severity of an advisory for one affected entry (or the advisory alone), None if it gives none.

    Unreadable vectors are passed over: a malformed vector in one record should not hide a word the
    database also gives.
    """
    for entries in ((affected.severity if affected else ()), advisory.severity):
        best = _best_vector(entries)
        if best is not None:
            return best
    for specific in (
        affected.ecosystem_specific if affected else None,
        affected.database_specific if affected else None,
        advisory.database_specific,
    ):
        word = _severity_word(specific)
        if word is not None:
            rating = word_rating(word)
            if rating is not None:
                return Score("database", rating)
    return None


def _best_vector(entries: tuple[Severity, ...]) -> Score | None:
    for entry in sorted(entries, key=lambda e: _PREFERENCE.get(e.type, len(_PREFERENCE))):
        if entry.type not in _PREFERENCE:
            rating = word_rating(entry.score)  # e.g. OSV's `Ubuntu` type carries a word
            if rating is not None:
                return Score(entry.type, rating)
            continue
        try:
            return score_vector(entry.score)
        except InvalidVector:
            continue
    return None


def _severity_word(specific: dict[str, Any] | None) -> str | None:
    if not specific:
        return None
    value = specific.get("severity")
    return value if isinstance(value, str) else None
