"""E-mail alerts through the platform's `EmailSender`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from services.alerts.outcome import DeliveryOutcome
from shared.email import EmailDeliveryError, EmailSender
from shared.messages.alerts import AlertRecord


def render_email(alert: AlertRecord) -> tuple[str, str]:
    """(subject, plain-text body) of an alert e-mail."""
    # Titles are single-line by validation; collapse whitespace anyway, a subject must be one line.
    subject = " ".join(f"[{alert.severity.value.upper()}] {alert.title}".split())
    lines = [alert.text, "", f"Kind: {alert.kind.value}", f"Raised at: {alert.raised_at.isoformat()}"]
    if alert.details:
        lines += ["", "Details:", json.dumps(alert.details, indent=2, sort_keys=True, default=str)]
    lines += ["", f"Alert id: {alert.id}"]
    return subject, "\n".join(lines) + "\n"


class EmailChannel:
    def __init__(self, sender: EmailSender, recipients: Sequence[str]) -> None:
        self._sender = sender
        self._recipients = list(recipients)

    async def deliver(self, alert: AlertRecord) -> DeliveryOutcome:
        subject, text = render_email(alert)
        try:
            await self._sender.send(self._recipients, subject, text, headers={"X-MNO-Alert-Id": alert.id})
        except EmailDeliveryError as error:
            if error.transient:
                return DeliveryOutcome.transient(str(error), error.code)
            return DeliveryOutcome.permanent(str(error), error.code)
        return DeliveryOutcome.sent()
