"""Alerts and alert channels as they cross processes and the API: plain data, no delivery logic.

An alert is raised once per `dedup_key` and team; the caller builds the key from what makes the
alert distinct (`budget:<id>:<period_start>:<threshold>`), so a threshold crossed again within the
same period is not announced twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, SecretStr, field_serializer

from shared.messages.fields import TEXT_PATTERN, MultilineText, Text, Timestamp


class AlertKind(StrEnum):
    BUDGET_THRESHOLD = "budget_threshold"
    BUDGET_FORECAST = "budget_forecast"
    SPEND_ANOMALY = "spend_anomaly"
    # The first call of a model that has no price (services/token_costs/unpriced_alerts.py).
    UNPRICED_MODEL = "unpriced_model"
    DAILY_REPORT = "daily_report"
    WEEKLY_REPORT = "weekly_report"
    # New or changed vulnerability findings of the team's SBOMs (the SupplyChainAgent's findings_changed).
    SUPPLY_CHAIN_FINDINGS = "supply_chain_findings"
    # What `test_channel` sends; never stored as an alert.
    TEST = "test"


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ChannelKind(StrEnum):
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    SENT = "sent"
    # This attempt failed and another one is scheduled.
    RETRYING = "retrying"
    # Given up: a permanent error, or the last allowed attempt failed.
    FAILED = "failed"


class Alert(BaseModel):
    """An alert as its raiser describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AlertKind
    severity: AlertSeverity
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    text: Annotated[MultilineText, Field(min_length=1, max_length=4000)]
    details: dict[str, JsonValue] = {}
    dedup_key: Annotated[Text, Field(min_length=1, max_length=300)]


class AlertRecord(BaseModel):
    """An alert as stored: what every channel delivers."""

    model_config = ConfigDict(frozen=True)

    id: str
    team_id: str
    kind: AlertKind
    severity: AlertSeverity
    title: str
    text: str
    details: dict[str, JsonValue]
    dedup_key: str
    raised_at: datetime


# Their own patterns (no control character either) are the whole rule of these two.
EmailAddress = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s<>,;\"\x00-\x1f\x7f-\x9f]+@[^@\s<>,;\"\x00-\x1f\x7f-\x9f]+$",
    ),
]
HttpUrlText = Annotated[
    str, Field(min_length=8, max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$")
]
_TEXT = re.compile(TEXT_PATTERN)


def _secret_text(value: SecretStr) -> SecretStr:
    # A secret has no pattern constraint of its own in pydantic: the same rule as `Text`, by hand.
    if not _TEXT.match(value.get_secret_value()):
        raise ValueError("control characters (U+0000-U+001F, U+007F-U+009F) are not allowed")
    return value


SecretText = Annotated[SecretStr, AfterValidator(_secret_text)]


class EmailChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal[ChannelKind.EMAIL] = ChannelKind.EMAIL
    recipients: Annotated[list[EmailAddress], Field(min_length=1, max_length=50)]


class SlackChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal[ChannelKind.SLACK] = ChannelKind.SLACK
    # The incoming-webhook URL embeds its own credential: stored sealed, never listed back.
    webhook_url: Annotated[SecretText, Field(min_length=8, max_length=2048)]

    @field_serializer("webhook_url", when_used="json")
    def _reveal_on_the_wire(self, value: SecretStr) -> str:
        # The edge forwards the request to the MonitoringAgent as JSON: masked, the URL would be lost.
        # repr/str (logs, tracebacks) stay masked.
        return value.get_secret_value()


class WebhookChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal[ChannelKind.WEBHOOK] = ChannelKind.WEBHOOK
    url: HttpUrlText
    signing_secret: Annotated[
        SecretText | None,
        Field(description="HMAC-SHA256 key for X-MNO-Signature; omit to have one generated (shown once)."),
    ] = None

    @field_serializer("signing_secret", when_used="json")
    def _reveal_on_the_wire(self, value: SecretStr | None) -> str | None:
        # As for Slack's URL: the secret must survive the hop from the edge to the MonitoringAgent.
        return None if value is None else value.get_secret_value()


ChannelConfig = Annotated[
    EmailChannelConfig | SlackChannelConfig | WebhookChannelConfig, Field(discriminator="kind")
]


FindingsThreshold = Literal["low", "medium", "high", "critical", "never"]
FINDINGS_THRESHOLD_SETTING = "findings_min_severity"
"""Where a channel's threshold is kept in its settings (absent on channels made before it: `high`)."""
FINDINGS_UNRATED_SETTING = "findings_include_unrated"
"""Where a channel keeps whether findings without a severity alert it (absent on channels made before
it: true)."""


class CreateAlertChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    config: ChannelConfig
    enabled: bool = True
    findings_min_severity: FindingsThreshold = Field(
        default="high",
        description="Vulnerability findings alerts reach this channel when a new or changed finding is at "
        "least this severe; `never` turns them off for the channel.",
    )
    findings_include_unrated: bool = Field(
        default=True,
        description="Vulnerability findings whose advisory gives no severity (no CVSS score nor rating: "
        "many PyPA advisories) alert this channel too, whatever `findings_min_severity` (unless it is "
        "`never`), as `mno scan` fails on them unless `--allow-unrated`; false leaves them out.",
    )


class AlertChannelInfo(BaseModel):
    """A channel as listed: its non-secret settings only."""

    id: str
    team_id: str
    kind: ChannelKind
    name: str
    enabled: bool
    # e-mail: recipients; slack: webhook_host; webhook: url.
    settings: dict[str, JsonValue]
    created_at: datetime
    updated_at: datetime


class CreatedAlertChannel(BaseModel):
    """The answer to creating a channel: the only time a generated signing secret is shown."""

    channel: AlertChannelInfo
    signing_secret: str | None = Field(
        default=None, description="The webhook's HMAC key when it was generated. Shown once; store it now."
    )


class AlertDeliveryInfo(BaseModel):
    """One delivery attempt of an alert to one channel."""

    alert_id: str
    channel_id: str | None  # None once the channel was deleted
    channel_kind: ChannelKind
    channel_name: str
    attempt: int
    status: DeliveryStatus
    response_code: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime
    next_attempt_at: datetime | None


class AlertHistoryEntry(BaseModel):
    alert: AlertRecord
    deliveries: list[AlertDeliveryInfo]


class AlertHistoryFilters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AlertKind | None = None
    severity: AlertSeverity | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Only alerts delivered (or tried) on this channel.
    channel_id: str | None = None


class AlertHistoryPage(BaseModel):
    entries: list[AlertHistoryEntry]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class ChannelTestResult(BaseModel):
    """The outcome of sending a test message to a channel (one attempt, no retries)."""

    channel_id: str
    ok: bool
    response_code: int | None = None
    error: str | None = None


# --- bus requests of the channel and history endpoints (the team is always the principal's) -------


class ListAlertChannels(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertChannelList(BaseModel):
    channels: list[AlertChannelInfo]


class AlertChannelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: Annotated[Text, Field(min_length=1, max_length=64)]


class UpdateAlertChannel(BaseModel):
    """Turn a channel on or off (a disabled channel is owed no new alerts; retries to it stop)."""

    model_config = ConfigDict(extra="forbid")

    channel_id: Annotated[Text, Field(min_length=1, max_length=64)]
    enabled: bool


class AlertHistoryQuery(BaseModel):
    """`GET /api/v1/alerts`: the team's alerts, newest first, each with its delivery attempts."""

    model_config = ConfigDict(extra="forbid")

    kind: AlertKind | None = None
    severity: AlertSeverity | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    channel_id: Text | None = Field(
        default=None, max_length=64, description="Only alerts delivered (or tried) on this channel."
    )
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Text | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page."
    )

    def filters(self) -> AlertHistoryFilters:
        return AlertHistoryFilters(
            kind=self.kind,
            severity=self.severity,
            since=self.since,
            until=self.until,
            channel_id=self.channel_id,
        )
