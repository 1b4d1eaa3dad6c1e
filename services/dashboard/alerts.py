"""The Alerts page: channels (create, test, turn on and off), alerts with their deliveries, anomalies.

Pure. `ChannelForm.body` turns the create form (strings, as htmx's json-enc sends them) into the body
`POST /api/v1/alert-channels` takes; its own model decides what is valid. `deliveries` flattens the
alert history into one row per delivery attempt, the ledger people read when an alert did not arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.messages.alerts import AlertChannelInfo, AlertChannelList, AlertHistoryPage
from shared.messages.fields import Text

HISTORY_SHOWN = 30
FormText = Annotated[Text, StringConstraints(max_length=2048)]
ChannelIdText = Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class ChannelForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, StringConstraints(max_length=100)] = ""
    kind: Literal["email", "slack", "webhook"] = "email"
    recipients: FormText = ""  # e-mail: comma-separated
    target_url: FormText = ""  # slack: the incoming webhook; webhook: where to POST

    def body(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.kind}
        if self.kind == "email":
            config["recipients"] = [
                r.strip() for r in self.recipients.replace(";", ",").split(",") if r.strip()
            ]
        elif self.kind == "slack":
            config["webhook_url"] = self.target_url.strip()
        else:
            config["url"] = self.target_url.strip()
        return {"name": self.name.strip(), "config": config}


class ChannelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: ChannelIdText


class ChannelToggle(ChannelRef):
    enabled: Literal["true", "false"]


class HistoryQuery(BaseModel):
    """The delivery history fragment's filter: one channel, or every channel."""

    model_config = ConfigDict(extra="forbid")

    channel_id: Annotated[Text, StringConstraints(max_length=64)] = ""


@dataclass(frozen=True)
class ChannelRow:
    id: str
    name: str
    kind: str
    target: str  # the non-secret setting that says where it goes
    enabled: bool
    created_at: datetime


def channel_rows(found: AlertChannelList) -> list[ChannelRow]:
    return [
        ChannelRow(c.id, c.name, c.kind.value, _target(c), c.enabled, c.created_at)
        for c in sorted(found.channels, key=lambda c: c.name.lower())
    ]


def _target(channel: AlertChannelInfo) -> str:
    settings = channel.settings
    if channel.kind.value == "email":
        recipients = settings.get("recipients")
        return ", ".join(str(r) for r in recipients) if isinstance(recipients, list) else ""
    if channel.kind.value == "slack":
        return f"Slack ({settings.get('webhook_host', 'hooks.slack.com')})"
    return str(settings.get("url", ""))


@dataclass(frozen=True)
class DeliveryRow:
    raised_at: datetime
    severity: str
    title: str
    kind: str
    channel: str
    attempt: int | None
    status: str  # sent | retrying | failed | "not sent" (no channel was enabled)
    outcome: str  # response code or error
    finished_at: datetime | None


def deliveries(page: AlertHistoryPage) -> list[DeliveryRow]:
    rows: list[DeliveryRow] = []
    for entry in page.entries:
        a = entry.alert
        if not entry.deliveries:
            rows.append(
                DeliveryRow(
                    a.raised_at,
                    a.severity.value,
                    a.title,
                    a.kind.value,
                    "—",
                    None,
                    "not sent",
                    "no channel",
                    None,
                )
            )
        for d in sorted(entry.deliveries, key=lambda d: (d.channel_name, d.attempt)):
            outcome = d.error or (f"HTTP {d.response_code}" if d.response_code else "")
            rows.append(
                DeliveryRow(
                    a.raised_at,
                    a.severity.value,
                    a.title,
                    a.kind.value,
                    d.channel_name,
                    d.attempt,
                    d.status.value,
                    outcome,
                    d.finished_at,
                )
            )
    return rows
