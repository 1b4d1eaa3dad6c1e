"""Slack alerts through an incoming webhook: `text` (notifications, old clients) plus simple blocks."""

from __future__ import annotations

import json
from typing import Any

from services.alerts.http import HttpPoster
from services.alerts.outcome import DeliveryOutcome
from shared.messages.alerts import AlertRecord, AlertSeverity

_ICONS = {
    AlertSeverity.INFO: ":information_source:",
    AlertSeverity.WARNING: ":warning:",
    AlertSeverity.CRITICAL: ":rotating_light:",
}
# Slack's limits: header text 150 characters, section text 3000.
_HEADER_CHARS = 150
_SECTION_CHARS = 3000


def _escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alert: AlertRecord) -> dict[str, Any]:
    icon = _ICONS[alert.severity]
    title = f"{icon} {alert.title}"
    return {
        "text": f"[{alert.severity.value.upper()}] {alert.title}: {alert.text}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _clip(title, _HEADER_CHARS), "emoji": True},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_escape(alert.text), _SECTION_CHARS)},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": " · ".join(
                            (alert.severity.value, alert.kind.value, alert.raised_at.isoformat())
                        ),
                    }
                ],
            },
        ],
    }


class SlackChannel:
    def __init__(self, poster: HttpPoster, webhook_url: str) -> None:
        self._poster = poster
        self._url = webhook_url

    async def deliver(self, alert: AlertRecord) -> DeliveryOutcome:
        body = json.dumps(slack_payload(alert), separators=(",", ":")).encode("utf-8")
        return await self._poster.post(self._url, body, {})
