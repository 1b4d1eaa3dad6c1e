"""The unpublish policy (services/registry/npm/unpublish.py): npmjs's rules, thresholds as parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.npm.unpublish import UnpublishFacts, UnpublishPolicy, UnpublishRefused, check_unpublish

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def facts(age: timedelta, dependents: int = 0, downloads: int = 0, maintainers: int = 1) -> UnpublishFacts:
    return UnpublishFacts(NOW - age, dependents, downloads, maintainers)


def refusal(f: UnpublishFacts, policy: UnpublishPolicy | None = None) -> str:
    with pytest.raises(UnpublishRefused) as caught:
        check_unpublish(f, NOW, policy or UnpublishPolicy())
    assert caught.value.code == "unpublish_refused"
    return caught.value.message


def test_within_72_hours_anything_without_dependents_goes() -> None:
    """Inside the window, downloads and maintainers do not matter."""
    check_unpublish(facts(timedelta(hours=71), downloads=10_000, maintainers=5), NOW)
    check_unpublish(facts(timedelta(hours=72)), NOW)


def test_dependents_block_at_any_age() -> None:
    """A package others depend on stays, even an hour old (unless the policy allows it)."""
    assert "depend" in refusal(facts(timedelta(hours=1), dependents=2))
    check_unpublish(facts(timedelta(hours=1), dependents=2), NOW, UnpublishPolicy(allow_with_dependents=True))


def test_after_the_window_downloads_and_maintainers_decide() -> None:
    """Past 72 h: allowed under 300 weekly downloads with one maintainer, refused otherwise."""
    old = timedelta(days=10)
    check_unpublish(facts(old, downloads=299), NOW)
    assert "300" in refusal(facts(old, downloads=300))
    assert "maintainers" in refusal(facts(old, maintainers=2))


def test_thresholds_are_parameters() -> None:
    """A stricter policy (24 h, 10 downloads) moves the lines."""
    policy = UnpublishPolicy(window=timedelta(hours=24), max_weekly_downloads=10)
    assert "downloaded" in refusal(facts(timedelta(hours=30), downloads=10), policy)
    check_unpublish(facts(timedelta(hours=30), downloads=9), NOW, policy)
