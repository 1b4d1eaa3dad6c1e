"""Waivers of findings: matched by advisory id or alias and package spelling, valid until their review
date; expired and no-longer-needed waivers make the verdict unclean."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.supply_chain.index import Finding
from services.supply_chain.waivers import apply_waivers, parse_waivers

TODAY = date(2025, 1, 15)
FINDING = Finding(
    advisory_id="PYSEC-2024-24",
    aliases=("CVE-2024-23334", "GHSA-5h86-8mv2-jq9f"),
    ecosystem="PyPI",
    package="aiohttp",
    version="3.9.1",
    fixed_versions=("3.9.2",),
    severity=None,
    summary=None,
)


def waiver(
    advisory: str = "PYSEC-2024-24", package: str = "aiohttp", review_by: str = "2025-02-01"
) -> dict[str, str]:
    return {
        "advisory": advisory,
        "package": package,
        "reason": "follow_symlinks is never enabled",
        "review_by": review_by,
    }


def test_current_waiver_covers_its_finding_by_id_or_alias_and_any_spelling() -> None:
    """A waiver naming the advisory id or one of its aliases, for any PEP 503 spelling, waives it."""
    for entry in [waiver(), waiver(advisory="CVE-2024-23334"), waiver(package="AioHTTP")]:
        verdict = apply_waivers([FINDING], parse_waivers({"waivers": [entry]}), TODAY)
        assert verdict.clean, entry


def test_no_waiver_leaves_the_finding_open() -> None:
    """Without a waiver (or one for another package or advisory) the finding stays open."""
    for entries in [[], [waiver(package="jinja2")], [waiver(advisory="PYSEC-2024-26")]]:
        verdict = apply_waivers([FINDING], parse_waivers({"waivers": entries}), TODAY)
        assert verdict.open == [FINDING]


def test_expired_waiver_waives_nothing_and_is_reported() -> None:
    """Past its review date a waiver no longer covers its finding, and is itself listed as expired."""
    waivers = parse_waivers({"waivers": [waiver(review_by="2025-01-14")]})
    verdict = apply_waivers([FINDING], waivers, TODAY)
    assert (verdict.open, verdict.expired, verdict.clean) == ([FINDING], waivers, False)
    assert apply_waivers([FINDING], parse_waivers({"waivers": [waiver(review_by="2025-01-15")]}), TODAY).clean


def test_waiver_that_covers_no_finding_is_reported_unused() -> None:
    """Once the finding is gone (upgraded), its waiver must go too: the verdict lists it as unused."""
    waivers = parse_waivers({"waivers": [waiver()]})
    verdict = apply_waivers([], waivers, TODAY)
    assert (verdict.unused, verdict.clean) == (waivers, False)


@pytest.mark.parametrize(
    "entry",
    [
        {k: v for k, v in waiver().items() if k != "review_by"},
        {**waiver(), "reason": ""},
        {**waiver(), "review_by": "soon"},
        {**waiver(), "reviewed": "yes"},
    ],
    ids=["no-review-date", "no-reason", "bad-date", "unknown-key"],
)
def test_incomplete_waivers_are_rejected(entry: dict[str, str]) -> None:
    """Every waiver says why and until when; a typo'd key is an error, not a silently ignored field."""
    with pytest.raises(ValidationError):
        parse_waivers({"waivers": [entry]})


def test_an_empty_list_file_has_no_waivers() -> None:
    """A file holding only comments (YAML None) or `waivers: []` is an empty list."""
    assert parse_waivers(None) == []
    assert parse_waivers({"waivers": []}) == []
