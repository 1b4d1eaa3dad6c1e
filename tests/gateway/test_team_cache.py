"""The edge's per-team answer cache (pure, with an injected clock)."""

from __future__ import annotations

import pytest

from services.gateway.team_cache import TeamCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_served_until_its_ttl_then_read_again() -> None:
    """A stored answer is a hit for `ttl` seconds, then a miss."""
    clock = Clock()
    cache: TeamCache[str] = TeamCache(ttl=5, max_entries=10, clock=clock)
    assert cache.get("a", "k") is None
    assert cache.put("a", "k", "v1", cache.generation("a"))
    clock.now = 4.9
    assert cache.get("a", "k") == "v1"
    clock.now = 5.0
    assert cache.get("a", "k") is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_teams_never_see_each_others_answers() -> None:
    """The same key of two teams is two entries; dropping one team leaves the other's."""
    cache: TeamCache[str] = TeamCache(ttl=5, max_entries=10, clock=Clock())
    cache.put("a", "k", "of a", 0)
    cache.put("b", "k", "of b", 0)
    assert (cache.get("a", "k"), cache.get("b", "k")) == ("of a", "of b")
    cache.drop_team("a")
    assert (cache.get("a", "k"), cache.get("b", "k")) == (None, "of b")


def test_a_read_that_began_before_a_change_is_not_stored() -> None:
    """A notice landing while a read is in flight wins: the older answer is not kept."""
    cache: TeamCache[str] = TeamCache(ttl=5, max_entries=10, clock=Clock())
    began = cache.generation("a")
    cache.drop_team("a")  # the owner's notice arrives while the read is in flight
    assert not cache.put("a", "k", "older", began)
    assert cache.get("a", "k") is None
    assert cache.put("a", "k", "newer", cache.generation("a"))


def test_the_least_recently_used_answer_goes_first() -> None:
    """Over `max_entries`, the answer read longest ago is dropped."""
    cache: TeamCache[int] = TeamCache(ttl=5, max_entries=2, clock=Clock())
    cache.put("a", 1, 1, 0)
    cache.put("a", 2, 2, 0)
    assert cache.get("a", 1) == 1
    cache.put("a", 3, 3, 0)
    assert (cache.get("a", 1), cache.get("a", 2), cache.get("a", 3)) == (1, None, 3)


def test_clear_forgets_everything_and_refuses_reads_begun_before() -> None:
    """After a reconnect every team's entries go, and reads in flight are not stored."""
    cache: TeamCache[str] = TeamCache(ttl=5, max_entries=10, clock=Clock())
    cache.put("a", "k", "v", 0)
    began = cache.generation("a")
    cache.clear()
    assert len(cache) == 0
    assert not cache.put("a", "k", "v", began)


def test_a_cache_without_room_or_time_is_refused() -> None:
    """ttl and max_entries must be positive."""
    with pytest.raises(ValueError, match="positive"):
        TeamCache(ttl=0, max_entries=1)


def test_a_weighed_cache_keeps_at_most_its_weight() -> None:
    """With a weigh function, the least recently used answers go until the rest fit `max_weight`; an
    answer heavier than that alone is not kept; drops and replacements give their weight back."""
    cache: TeamCache[str] = TeamCache(ttl=5, max_entries=10, clock=Clock(), weigh=len, max_weight=10)
    assert cache.put("a", 1, "xxxx", 0)
    assert cache.put("b", 2, "yyyy", 0)
    assert cache.put("a", 3, "zzzz", 0)  # 12 > 10: the oldest goes
    assert (cache.get("a", 1), cache.get("b", 2), cache.get("a", 3)) == (None, "yyyy", "zzzz")
    assert cache.weight == 8
    assert not cache.put("a", 4, "w" * 11, 0)
    assert cache.put("a", 3, "zz", 0)  # replaced: its old weight given back
    assert cache.weight == 6
    cache.drop_team("a")
    assert (cache.weight, len(cache)) == (4, 1)
    cache.clear()
    assert cache.weight == 0


def test_a_weighed_cache_needs_both_settings() -> None:
    """weigh and max_weight come together, and max_weight is positive."""
    with pytest.raises(ValueError, match="weigh"):
        TeamCache(ttl=1, max_entries=1, weigh=len)
    with pytest.raises(ValueError, match="weigh"):
        TeamCache(ttl=1, max_entries=1, weigh=len, max_weight=0)
