"""Which channels a `findings_changed` event alerts, and what the alert says (services/alerts/findings.py,
pure): a channel's threshold decides rated findings; unrated ones (the advisory gives no severity)
alert every channel that has not opted out with `findings_include_unrated: false`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.alerts.findings import findings_alert, wants
from shared.messages.alerts import AlertChannelInfo, AlertSeverity, ChannelKind
from shared.messages.supply_chain import FindingsChanged, SeverityRating

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def channel(enabled: bool = True, **settings: Any) -> AlertChannelInfo:
    return AlertChannelInfo(
        id="c1",
        team_id="t1",
        kind=ChannelKind.WEBHOOK,
        name="hook",
        enabled=enabled,
        settings={"url": "https://example.com/hook", **settings},
        created_at=T0,
        updated_at=T0,
    )


def event(
    rating: str | None, unrated: int, new: int = 2, updated: int = 0, retired: int = 0
) -> FindingsChanged:
    return FindingsChanged(
        team_id="t1",
        cause="advisory_import",
        sbom_ids=["s1"],
        new=new,
        updated=updated,
        retired=retired,
        highest_rating=SeverityRating(rating) if rating else None,
        advisory_ids=["PYSEC-2099-1"],
        unrated=unrated,
    )


# (channel settings, enabled, event's highest rating, unrated findings, alerted)
CASES = [
    # Rated findings: the threshold alone decides (high when the channel has none).
    ({}, True, "high", 0, True),
    ({}, True, "medium", 0, False),
    ({"findings_min_severity": "critical"}, True, "high", 0, False),
    ({"findings_min_severity": "low"}, True, "low", 0, True),
    # Unrated findings: every channel that takes them, whatever its threshold...
    ({}, True, None, 1, True),  # a channel made before the setting existed takes them
    ({"findings_min_severity": "critical", "findings_include_unrated": True}, True, None, 3, True),
    ({"findings_min_severity": "critical"}, True, "medium", 1, True),  # rated below it, unrated beside
    # ...but not one that opted out, nor one with findings alerts off, nor a disabled one.
    ({"findings_include_unrated": False}, True, None, 2, False),
    ({"findings_include_unrated": False}, True, "high", 2, True),  # its rated finding still reaches it
    ({"findings_min_severity": "never"}, True, None, 2, False),
    ({"findings_min_severity": "never"}, True, "critical", 2, False),
    ({}, False, None, 2, False),
    ({}, True, None, 0, False),
]


@pytest.mark.parametrize(("settings", "enabled", "rating", "unrated", "alerted"), CASES)
def test_which_channels_an_event_alerts(
    settings: dict[str, Any], enabled: bool, rating: str | None, unrated: int, alerted: bool
) -> None:
    """Rated findings alert channels whose threshold they reach; unrated ones alert every enabled channel
    not set to `never` unless it opted out (`findings_include_unrated: false`)."""
    assert wants(channel(enabled, **settings), rating, unrated) is alerted


def test_an_event_of_unrated_findings_only_is_an_alert_that_says_unrated() -> None:
    """Unrated findings alone raise a warning whose title and text say "unrated"; details count them and
    carry no rating."""
    alert = findings_alert(event(None, 2), "e1")
    assert alert is not None
    assert alert.severity is AlertSeverity.WARNING
    assert alert.title == "2 new and 0 changed vulnerability findings (unrated)"
    assert "2 of them are unrated (their advisories give no severity" in alert.text
    assert (alert.details["highest_rating"], alert.details["unrated"]) == (None, 2)
    assert alert.dedup_key == "findings:e1"


def test_rated_and_unrated_findings_name_both() -> None:
    """A low finding beside unrated ones: the title names the rating and the unrated count, and the alert
    is a warning, not info (nobody knows how bad the unrated ones are)."""
    alert = findings_alert(event("low", 1, new=3), "e2")
    assert alert is not None
    assert alert.title == "3 new and 0 changed vulnerability findings (up to low; 1 unrated)"
    assert "the most severe rated one is low, and 1 are unrated" in alert.text
    assert alert.severity is AlertSeverity.WARNING
    assert (alert.details["highest_rating"], alert.details["unrated"]) == ("low", 1)
    rated_only = findings_alert(event("low", 0), "e3")
    assert rated_only is not None
    assert rated_only.severity is AlertSeverity.INFO
    assert "unrated" not in rated_only.title + rated_only.text


@pytest.mark.parametrize(
    "changed",
    [
        event(None, 0),  # nothing rated, nothing unrated (cannot happen, but says nothing)
        event("none", 0),  # only CVSS 0.0 findings
        event(None, 2, new=0, updated=0, retired=2),  # only retirements
    ],
)
def test_events_without_an_alert(changed: FindingsChanged) -> None:
    """Only retirements, or only findings rated `none`, raise no alert."""
    assert findings_alert(changed, "e4") is None


def test_an_event_from_an_older_agent_without_the_unrated_count() -> None:
    """An event sent before `unrated` existed reads as 0 unrated: rated findings alert as before."""
    payload = event("high", 0).model_dump(mode="json")
    del payload["unrated"]
    old = FindingsChanged.model_validate(payload)
    assert old.unrated == 0
    alert = findings_alert(old, "e5")
    assert alert is not None
    assert alert.details["unrated"] == 0
