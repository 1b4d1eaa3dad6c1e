"""Internal records of the alerts store (API shapes live in `shared.messages.alerts`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.messages.alerts import AlertChannelInfo, AlertRecord, ChannelKind


@dataclass(frozen=True)
class StoredChannel:
    """A channel with its secrets opened: what a channel implementation is built from. Never
    returned through the API (use `info`)."""

    id: str
    team_id: str
    kind: ChannelKind
    name: str
    enabled: bool
    settings: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)
    created_at: datetime
    updated_at: datetime

    def info(self) -> AlertChannelInfo:
        return AlertChannelInfo(
            id=self.id,
            team_id=self.team_id,
            kind=self.kind,
            name=self.name,
            enabled=self.enabled,
            settings=self.settings,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True)
class ClaimedDispatch:
    """The right to make attempt `attempt` of delivering `alert` to `channel_id`, held until the
    lease runs out (then another worker may take it over)."""

    alert: AlertRecord
    channel_id: str
    attempt: int
