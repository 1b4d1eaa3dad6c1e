"""Generic webhooks: a JSON body signed with the channel's secret (see `services.alerts.signing`).

Headers: `X-MNO-Event-Id` (the alert id: the same on every retry, so receivers can drop
duplicates), `X-MNO-Timestamp` and `X-MNO-Signature: t=<unix>,v1=<hex>` over "<t>.<raw body>".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from services.alerts.http import HttpPoster
from services.alerts.outcome import DeliveryOutcome
from services.alerts.signing import signature_header
from shared.messages.alerts import AlertRecord

EVENT_ID_HEADER = "X-MNO-Event-Id"
TIMESTAMP_HEADER = "X-MNO-Timestamp"
SIGNATURE_HEADER = "X-MNO-Signature"


def webhook_payload(alert: AlertRecord) -> dict[str, Any]:
    return {
        "id": alert.id,
        "type": f"alert.{alert.kind.value}",
        "team_id": alert.team_id,
        "created_at": alert.raised_at.isoformat(),
        "alert": {
            "kind": alert.kind.value,
            "severity": alert.severity.value,
            "title": alert.title,
            "text": alert.text,
            "details": alert.details,
            "dedup_key": alert.dedup_key,
        },
    }


class WebhookChannel:
    def __init__(
        self, poster: HttpPoster, url: str, secret: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._poster = poster
        self._url = url
        self._secret = secret
        self._clock = clock

    async def deliver(self, alert: AlertRecord) -> DeliveryOutcome:
        body = json.dumps(webhook_payload(alert), separators=(",", ":"), default=str).encode("utf-8")
        # Signed per attempt: a retry an hour later must not carry an hour-old timestamp.
        timestamp = int(self._clock())
        headers = {
            EVENT_ID_HEADER: alert.id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(self._secret, timestamp, body),
        }
        return await self._poster.post(self._url, body, headers)
