"""Vulnerability findings as alerts: the SupplyChainAgent's `findings_changed` events raised on the
owning team's channels whose threshold (`findings_min_severity`, set per channel, `high` when absent)
the event's highest new or changed finding reaches.

Once per event: the alert's dedup key is the event's id, stored by the same INSERT as the alert
(`AlertStore.record_alert`), which makes it this consumer's inbox; a redelivered event raises nothing.
An event with nothing new or changed (only retired findings), or without a rated finding, raises no
alert.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.alerts.dispatcher import AlertDispatcher
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.messages.alerts import (
    FINDINGS_THRESHOLD_SETTING,
    Alert,
    AlertChannelInfo,
    AlertKind,
    AlertSeverity,
)
from shared.messages.supply_chain import FindingsChanged

__all__ = ["DEFAULT_THRESHOLD", "FindingsAlerts", "findings_alert", "reached"]

DEFAULT_THRESHOLD = "high"
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


def findings_alert(event: FindingsChanged, event_id: str) -> Alert | None:
    """The alert of an event, or None when it has nothing new or changed with a rating."""
    rating = event.highest_rating.value if event.highest_rating is not None else None
    if not (event.new or event.updated) or rating not in _SEVERITIES:
        return None
    advisories = ", ".join(event.advisory_ids[:10]) + (" ..." if len(event.advisory_ids) > 10 else "")
    return Alert(
        kind=AlertKind.SUPPLY_CHAIN_FINDINGS,
        severity=_SEVERITIES[rating],
        title=f"{event.new} new and {event.updated} changed vulnerability findings (up to {rating})",
        text=(
            f"Findings of {len(event.sbom_ids)} SBOM(s) changed after {_CAUSES[event.cause]}: "
            f"{event.new} new, {event.updated} changed, {event.retired} retired; the most severe is "
            f"{rating}. Advisories: {advisories or '-'}."
        ),
        details={
            "cause": event.cause,
            "highest_rating": rating,
            "new": event.new,
            "updated": event.updated,
            "retired": event.retired,
            "sbom_ids": list(event.sbom_ids[:100]),
            "advisory_ids": list(event.advisory_ids),
        },
        dedup_key=f"findings:{event_id}",
    )


def _eligible(channels: Iterable[AlertChannelInfo], rating: str) -> list[str]:
    return [c.id for c in channels if reached(c, rating)]


class FindingsAlerts:
    def __init__(self, dispatcher: AlertDispatcher) -> None:
        self._alerts = dispatcher

    async def on_findings_changed(
        self, event: FindingsChanged, _ctx: MessageContext, delivery: Delivery
    ) -> bool:
        alert = findings_alert(event, delivery.message_id)
        if alert is None:
            return False
        rating = alert.details["highest_rating"]
        assert isinstance(rating, str)
        channel_ids = _eligible(await self._alerts.list_channels(event.team_id), rating)
        # Recorded even when no channel wants it: the team's alert history shows every one.
        return await self._alerts.raise_alert(event.team_id, alert, channel_ids=channel_ids)
