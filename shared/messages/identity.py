"""API models of identity: API keys (people, teams and sessions follow with their issues)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.permissions import Permission


class ApiKeyInfo(BaseModel):
    """An API key as listed: never its secret."""

    key_id: str
    team_id: str
    name: str
    permissions: list[Permission]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreateApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    permissions: list[Permission] = Field(min_length=1, description="A subset of your own permissions.")
    expires_at: datetime | None = Field(default=None, description="Omit for a key that does not expire.")


class CreatedApiKey(BaseModel):
    """The answer to creating a key: the only time its secret is shown."""

    key: ApiKeyInfo
    token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown once; store it now.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyInfo]


class ListApiKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_revoked: bool = False


class ApiKeyRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]+$")
