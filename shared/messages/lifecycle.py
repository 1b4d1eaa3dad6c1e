"""Events about the life of accounts and teams that every agent acts on: deactivation, and the
purge of a team's data with each data owner's confirmation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.agents import AgentName


class AccountDeactivated(BaseModel):
    """An account stopped being served (Marketplace cancellation, uninstall): its teams' requests are
    refused from now on, and its data is purged at `purge_after`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str
    team_ids: list[str]
    reason: str = Field(max_length=200)
    purge_after: datetime


class TeamDataPurgeRequested(BaseModel):
    """Every agent deletes everything it holds for these teams, then confirms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    team_ids: list[str] = Field(min_length=1)
    reason: str = Field(max_length=200)


class TeamDataPurged(BaseModel):
    """One agent's confirmation that it holds nothing more for the teams of a purge request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    agent: AgentName
    rows_deleted: int = Field(ge=0)
