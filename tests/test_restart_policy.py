"""The supervisor's restart policy as pure logic: back-off, its reset, and the crash-loop budget."""

from __future__ import annotations

import pytest

from mno.restart_policy import GiveUp, Restart, RestartPolicy, RestartTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracker(clock: Clock, **policy: float) -> RestartTracker:
    kept = RestartTracker(RestartPolicy(**policy), clock=clock)  # type: ignore[arg-type]
    kept.started()
    return kept


def crash_after(kept: RestartTracker, clock: Clock, uptime: float) -> Restart | GiveUp:
    """The process ran `uptime` seconds since its last start, then crashed."""
    clock.now += uptime
    decision = kept.crashed()
    if isinstance(decision, Restart):
        clock.now += decision.delay
        kept.restarted()
    return decision


def test_delays_double_per_consecutive_crash_up_to_the_cap() -> None:
    """Consecutive quick crashes wait 1, 2, 4, 8 ... seconds, never more than max_delay."""
    clock = Clock()
    kept = tracker(clock, first_delay=1, factor=2, max_delay=10, max_restarts=100, window=1)
    delays = [crash_after(kept, clock, 5) for _ in range(6)]
    assert delays == [Restart(1), Restart(2), Restart(4), Restart(8), Restart(10), Restart(10)]
    assert kept.restarts == 6


def test_a_process_that_stayed_up_starts_the_back_off_over() -> None:
    """After a run of stable_after seconds the next crash waits first_delay again."""
    clock = Clock()
    kept = tracker(clock, first_delay=1, max_delay=30, stable_after=60, max_restarts=100, window=1)
    assert [crash_after(kept, clock, 1) for _ in range(3)] == [Restart(1), Restart(2), Restart(4)]
    assert crash_after(kept, clock, 60) == Restart(1)
    assert crash_after(kept, clock, 59) == Restart(2), "59 s is not stable: the streak goes on"


def test_the_crash_after_the_budget_within_the_window_gives_up() -> None:
    """max_restarts crashes within the window are restarted; the next one in it gives up."""
    clock = Clock()
    kept = tracker(clock, first_delay=1, max_delay=2, max_restarts=4, window=60)
    decisions = [crash_after(kept, clock, 1) for _ in range(5)]
    assert all(isinstance(d, Restart) for d in decisions[:4]), decisions
    assert decisions[4] == GiveUp(crashes=5, window=60)
    assert kept.restarts == 4


def test_crashes_spread_wider_than_the_window_never_give_up() -> None:
    """A process crashing now and then (fewer than the budget in any window) is restarted forever."""
    clock = Clock()
    kept = tracker(clock, first_delay=1, max_delay=2, max_restarts=2, window=60)
    decisions = [crash_after(kept, clock, 31) for _ in range(20)]
    assert all(isinstance(d, Restart) for d in decisions), decisions
    assert kept.restarts == 20


def test_no_restarts_allowed_gives_up_at_the_first_crash() -> None:
    """max_restarts=0: the first crash gives up."""
    clock = Clock()
    kept = tracker(clock, max_restarts=0)
    assert crash_after(kept, clock, 100) == GiveUp(crashes=1, window=60)


def test_the_default_policy_is_described_as_the_crash_that_gives_up() -> None:
    """The default policy (the one `mno run` uses) gives up at the 5th crash within a minute."""
    policy = RestartPolicy()
    assert policy.describe() == "5 crashes within 60s"
    clock = Clock()
    kept = RestartTracker(policy, clock=clock)
    kept.started()
    decisions = [crash_after(kept, clock, 0.5) for _ in range(5)]
    assert [d.delay for d in decisions[:4] if isinstance(d, Restart)] == [1, 2, 4, 8]
    assert isinstance(decisions[4], GiveUp)


@pytest.mark.parametrize(
    "policy",
    [
        {"first_delay": -1},
        {"factor": 0.5},
        {"first_delay": 10, "max_delay": 5},
        {"max_restarts": -1},
        {"window": 0},
        {"stable_after": 0},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(policy: dict[str, float]) -> None:
    """Negative delays, shrinking back-off, a cap below the first delay or an empty window are refused."""
    with pytest.raises(ValueError, match="must"):
        RestartPolicy(**policy)  # type: ignore[arg-type]
