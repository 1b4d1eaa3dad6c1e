"""What every alert channel does: one delivery attempt, reported as an outcome (never raised)."""

from __future__ import annotations

from typing import Protocol

from services.alerts.outcome import DeliveryOutcome
from shared.messages.alerts import AlertRecord


class AlertChannel(Protocol):
    async def deliver(self, alert: AlertRecord) -> DeliveryOutcome:
        """Try once to deliver `alert`; retries are the dispatcher's business."""
        ...
