"""Vulnerability findings as alerts: the SupplyChainAgent's `findings_changed` events raised on the
owning team's channels that want them (`wants`, pure):

- a channel whose threshold (`findings_min_severity`, set per channel, `high` when absent) the event's
  highest new or changed finding reaches;
- a channel that takes unrated findings (`findings_include_unrated`, true when absent) when the event
  has new or changed findings whose advisory gives no severity (no CVSS score nor rating: many PyPA
  advisories have none), whatever its threshold: nobody rated them, so nobody can say they are below
  it. `mno scan` fails on them unless `--allow-unrated` for the same reason; a channel opts out with
  `findings_include_unrated: false`;
- never a disabled channel, nor one whose threshold is `never` (findings alerts off, unrated included).

The alert says "unrated" in its title and text when the event has such findings, and counts them in
`details.unrated`.

Once per event: the alert's dedup key is the event's id, stored by the same INSERT as the alert
(`AlertStore.record_alert`), which makes it this consumer's inbox; a redelivered event raises nothing.
An event with nothing new or changed (only retired findings), or whose new and changed findings are
all rated `none`, raises no alert.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.alerts.dispatcher import AlertDispatcher
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.messages.alerts import (
    FINDINGS_THRESHOLD_SETTING,
    FINDINGS_UNRATED_SETTING,
    Alert,
    AlertChannelInfo,
    AlertKind,
    AlertSeverity,
)
from shared.messages.supply_chain import FindingsChanged

__all__ = [
    "DEFAULT_INCLUDE_UNRATED",
    "DEFAULT_THRESHOLD",
    "FindingsAlerts",
    "findings_alert",
    "reached",
    "wants",
]

DEFAULT_THRESHOLD = "high"
DEFAULT_INCLUDE_UNRATED = True
# Lowest first; `never` is above every rating.
_RANKS = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4, "never": 5}
_SEVERITIES = {
    "critical": AlertSeverity.CRITICAL,
    "high": AlertSeverity.WARNING,
    "medium": AlertSeverity.WARNING,
    "low": AlertSeverity.INFO,
}
_CAUSES = {
    "advisory_import": "new or changed advisories",
    "sbom_scanned": "an uploaded SBOM",
    "artifact_published": "a published package version",
    "upstream_fetched": "a version taken from an upstream index",
}


def reached(channel: AlertChannelInfo, rating: str) -> bool:
    """Whether a finding rated `rating` is severe enough for the channel (and the channel is on)."""
    threshold = channel.settings.get(FINDINGS_THRESHOLD_SETTING, DEFAULT_THRESHOLD)
    return channel.enabled and _RANKS.get(rating, 0) >= _RANKS.get(str(threshold), _RANKS["never"])


def wants(channel: AlertChannelInfo, rating: str | None, unrated: int) -> bool:
    """Whether the channel gets the alert of an event whose highest new or changed finding is rated
    `rating` (None: none is rated) and `unrated` of whose new or changed findings have no severity."""
    if rating is not None and reached(channel, rating):
        return True
    threshold = str(channel.settings.get(FINDINGS_THRESHOLD_SETTING, DEFAULT_THRESHOLD))
    include = channel.settings.get(FINDINGS_UNRATED_SETTING, DEFAULT_INCLUDE_UNRATED)
    return channel.enabled and unrated > 0 and include is True and threshold != "never"


def findings_alert(event: FindingsChanged, event_id: str) -> Alert | None:
    """The alert of an event, or None when it has nothing new or changed that is rated above `none` or
    unrated."""
    rating = event.highest_rating.value if event.highest_rating is not None else None
    rated = rating in _SEVERITIES
    unrated = event.unrated if (event.new or event.updated) else 0
    if not (event.new or event.updated) or not (rated or unrated):
        return None
    advisories = ", ".join(event.advisory_ids[:10]) + (" ..." if len(event.advisory_ids) > 10 else "")
    if rated and unrated:
        headline = f"up to {rating}; {unrated} unrated"
        worst = (
            f"the most severe rated one is {rating}, and {unrated} are unrated (their advisories give no "
            "severity: assess them yourself)"
        )
    elif rated:
        headline, worst = f"up to {rating}", f"the most severe is {rating}"
    else:
        headline = "unrated"
        worst = f"{unrated} of them are unrated (their advisories give no severity: assess them yourself)"
    severity = _SEVERITIES.get(rating or "", AlertSeverity.WARNING)
    if unrated and severity is AlertSeverity.INFO:
        # Nobody rated them: they may be worse than the low finding beside them.
        severity = AlertSeverity.WARNING
    return Alert(
        kind=AlertKind.SUPPLY_CHAIN_FINDINGS,
        severity=severity,
        title=f"{event.new} new and {event.updated} changed vulnerability findings ({headline})",
        text=(
            f"Findings of {len(event.sbom_ids)} SBOM(s) changed after {_CAUSES[event.cause]}: "
            f"{event.new} new, {event.updated} changed, {event.retired} retired; {worst}. "
            f"Advisories: {advisories or '-'}."
        ),
        details={
            "cause": event.cause,
            "highest_rating": rating if rated else None,
            "unrated": unrated,
            "new": event.new,
            "updated": event.updated,
            "retired": event.retired,
            "sbom_ids": list(event.sbom_ids[:100]),
            "advisory_ids": list(event.advisory_ids),
        },
        dedup_key=f"findings:{event_id}",
    )


def _eligible(channels: Iterable[AlertChannelInfo], rating: str | None, unrated: int) -> list[str]:
    return [c.id for c in channels if wants(c, rating, unrated)]


class FindingsAlerts:
    def __init__(self, dispatcher: AlertDispatcher) -> None:
        self._alerts = dispatcher

    async def on_findings_changed(
        self, event: FindingsChanged, _ctx: MessageContext, delivery: Delivery
    ) -> bool:
        alert = findings_alert(event, delivery.message_id)
        if alert is None:
            return False
        rating, unrated = alert.details["highest_rating"], alert.details["unrated"]
        assert rating is None or isinstance(rating, str)
        assert isinstance(unrated, int)
        channel_ids = _eligible(await self._alerts.list_channels(event.team_id), rating, unrated)
        # Recorded even when no channel wants it: the team's alert history shows every one.
        return await self._alerts.raise_alert(event.team_id, alert, channel_ids=channel_ids)
