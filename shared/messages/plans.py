"""Plan entitlements asked across the mesh: agents doing scheduled work for teams (forecast alerts,
anomaly detection) ask the SuperAgent, which owns accounts and plans, which teams are entitled."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TeamsWithFeatureQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str = Field(min_length=1, max_length=64, description="A plan feature, e.g. forecasts.")
    team_ids: list[str] = Field(max_length=10_000)


class TeamsWithFeature(BaseModel):
    """The asked teams whose plan includes the feature (unknown or deleted teams are left out)."""

    feature: str
    team_ids: list[str]
