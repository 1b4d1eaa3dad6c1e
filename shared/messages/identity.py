"""API models of identity: API keys (people, teams and sessions follow with their issues)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.messages.fields import Text, Timestamp
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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"x-mno-rules": ["expires_at > now"]})

    name: Text = Field(min_length=1, max_length=100)
    permissions: list[Permission] = Field(min_length=1, description="A subset of your own permissions.")
    expires_at: Timestamp | None = Field(
        default=None, description="In the future (RFC 3339 with offset); omit for a key that does not expire."
    )

    @field_validator("expires_at")
    @classmethod
    def _expires_later(cls, value: datetime | None) -> datetime | None:
        # A key born expired could never be used: a client bug (a wrong clock or unit) to report.
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


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


class TeamMembership(BaseModel):
    team_id: str
    slug: str
    name: str
    role: str | None  # None: an API key whose creator is no longer in its team
    account: str


class SessionUser(BaseModel):
    id: str
    login: str


class SessionInfo(BaseModel):
    """Who is calling, whatever the credential: the user (a key's creator), their teams (a key: its
    own team only), the team the request acts in with the caller's role and permissions there, and
    for a browser session the CSRF token its cookie-authenticated writes must send as `X-CSRF-Token`."""

    credential: Literal["session", "api_key", "operator"] = "session"
    user: SessionUser | None
    teams: list[TeamMembership]
    team_id: str | None = Field(default=None, description="The team this request acts in.")
    role: str | None = Field(default=None, description="Your role there (a key: its creator's).")
    permissions: list[Permission] = Field(default_factory=list, description="What you may do there.")
    api_key_id: str | None = None
    csrf_token: str | None = None
    expires_at: datetime | None = None


class LoginQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_to: Text = Field(default="/", max_length=2000, description="A path on this site to return to.")


class CallbackQuery(BaseModel):
    """What GitHub appends to the callback URL: a code and our state, or an error."""

    model_config = ConfigDict(extra="ignore")

    code: Text | None = Field(default=None, max_length=200)
    state: Text | None = Field(default=None, max_length=200)
    error: Text | None = Field(default=None, max_length=200)
    error_description: Text | None = Field(default=None, max_length=1000)


class SetupQuery(BaseModel):
    """What GitHub appends to the App's setup URL after an installation (forgeable: verified)."""

    model_config = ConfigDict(extra="ignore")

    installation_id: int = Field(gt=0)
    setup_action: Text | None = Field(default=None, max_length=50)


class InstallationLinked(BaseModel):
    installation_id: int
    account: str


class PlanUsage(BaseModel):
    """The plan of your team's account, its limits and features, and what is used of them so far
    (limits not metered yet are absent from `usage`)."""

    plan: str
    limits: dict[str, int]
    features: list[str]
    usage: dict[str, int]
