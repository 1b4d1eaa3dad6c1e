"""The audit log's data: who did what to which resource, when, from where, with before and after.

`NewAuditEntry` is what a caller records; `store.append` turns it into an `AuditEntry`, which adds
the team, its place in the team's chain (`seq`), the time, and the hashes that make it
tamper-evident (see `chain.py`). `AuditQuery` and `AuditPage` are the read side.

Fields that come from outside (IP address, user agent) are normalised rather than refused, so a
strange request header can never make an audited change fail: the user agent is trimmed of NUL
characters and cut to 512 characters; an empty optional string is stored as null.

Never put secrets in `before` / `after` (API key tokens, session tokens, webhook secrets): audit
entries cannot be changed or deleted, only purged with their whole team.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_serializer,
    field_validator,
    model_validator,
)

from services.audit.canonical import JsonValue, normalize_json
from shared.messages.envelope import Principal

__all__ = [
    "MAX_PAGE_SIZE",
    "ActorKind",
    "AuditActor",
    "AuditContent",
    "AuditEntry",
    "AuditPage",
    "AuditQuery",
    "NewAuditEntry",
    "decode_cursor",
    "encode_cursor",
    "team_uuid",
]

MAX_PAGE_SIZE = 500
USER_AGENT_MAX_LENGTH = 512

# `<area>.<verb>` with optional further segments: `apikeys.create`, `teams.members.role_change`.
ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
# A filter on actions: one or more whole segments (`apikeys`, `apikeys.create`).
ACTION_PREFIX_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
RESOURCE_TYPE_PATTERN = r"^[a-z][a-z0-9_]*$"
HASH_PATTERN = r"^[0-9a-f]{64}$"


def team_uuid(value: str | UUID) -> str:
    """A team id in its one canonical spelling (lower-case, hyphenated); ValueError if not a UUID."""
    if isinstance(value, UUID):
        return str(value)
    return str(UUID(value))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _empty_as_none(value: Any) -> Any:
    return None if value == "" else value


def _team_id(value: Any) -> Any:
    return team_uuid(value) if isinstance(value, str | UUID) else value


def _ip(value: str | None) -> str | None:
    if value is None:
        return None
    return ipaddress.ip_address(value.strip()).compressed


def _user_agent(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    cleaned = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()
    return cleaned[:USER_AGENT_MAX_LENGTH] or None


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
TeamId = Annotated[str, BeforeValidator(_team_id)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_no_nul)]
OptionalText = Annotated[Text | None, BeforeValidator(_empty_as_none)]
Action = Annotated[str, StringConstraints(max_length=128, pattern=ACTION_PATTERN)]
ResourceType = Annotated[str, StringConstraints(max_length=64, pattern=RESOURCE_TYPE_PATTERN)]
Hash = Annotated[str, StringConstraints(pattern=HASH_PATTERN)]
# JSON with exact numbers; see canonical.py. None is SQL NULL (and JSON null: the same thing here).
Json = Annotated[Any, AfterValidator(normalize_json)]


class ActorKind(StrEnum):
    """How the actor was authenticated."""

    SESSION = "session"  # a person signed in with a browser session
    API_KEY = "api_key"  # a machine (or person) with an API key
    OPERATOR = "operator"  # the operator token (`auth.bootstrap_token`): no user, no team
    SYSTEM = "system"  # the platform itself: schedules, webhooks, reconciliation


class AuditActor(BaseModel):
    """Who did it, and from where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActorKind
    user_id: OptionalText = None  # for an API key: the user who created it
    api_key_id: OptionalText = None
    # A non-secret handle on the session (e.g. the first 16 hex digits of its stored token hash),
    # never the cookie value.
    session_id: OptionalText = None
    ip: Annotated[str | None, BeforeValidator(_empty_as_none), AfterValidator(_ip)] = None
    user_agent: Annotated[str | None, BeforeValidator(_user_agent)] = None

    @model_validator(mode="after")
    def _kind_has_its_id(self) -> AuditActor:
        if self.kind is ActorKind.API_KEY and self.api_key_id is None:
            raise ValueError("an api_key actor needs api_key_id")
        if self.kind is ActorKind.SESSION and self.user_id is None:
            raise ValueError("a session actor needs user_id")
        return self

    @classmethod
    def from_principal(
        cls,
        principal: Principal,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        session_id: str | None = None,
    ) -> AuditActor:
        """The actor behind a principal authenticated at the edge (or `Principal.system()`)."""
        if principal.api_key_id is not None:
            kind = ActorKind.API_KEY
        elif "system" in principal.roles:
            kind = ActorKind.SYSTEM
        elif principal.user_id is not None:
            kind = ActorKind.SESSION
        else:
            kind = ActorKind.OPERATOR
        return cls(
            kind=kind,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            session_id=session_id,
            ip=ip,
            user_agent=user_agent,
        )


class NewAuditEntry(BaseModel):
    """What a caller records; the store adds team, seq, time and hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: AuditActor
    action: Action
    resource_type: ResourceType
    resource_id: OptionalText = None
    before: Json = None
    after: Json = None
    correlation_id: OptionalText = None


class AuditContent(NewAuditEntry):
    """Everything an entry's hash covers (see `chain.canonical_content`)."""

    id: str
    team_id: TeamId
    seq: int = Field(ge=1)
    occurred_at: UtcDatetime

    @field_validator("id", mode="before")
    @classmethod
    def _uuid_text(cls, value: Any) -> str:
        return str(UUID(str(value)))

    @field_serializer("before", "after", when_used="json")
    def _json_numbers(self, value: JsonValue) -> Any:
        # An API's JSON gets plain numbers; exports (formats.py) keep every digit.
        return _floats(value)


class AuditEntry(AuditContent):
    """One recorded entry: its content, the previous entry's hash and its own."""

    prev_hash: Hash
    hash: Hash


class AuditQuery(BaseModel):
    """Filters over one team's entries, newest first, a page at a time.

    `action` matches whole segments: `apikeys` finds `apikeys.create` and `apikeys.revoke`, not
    `apikeys_legacy.x`. Time range: `since <= occurred_at < until`. `cursor` is the `next_cursor`
    of the previous page (opaque); pages never skip or repeat entries, even while new ones arrive.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Annotated[str, StringConstraints(max_length=128, pattern=ACTION_PREFIX_PATTERN)] | None = None
    resource_type: ResourceType | None = None
    resource_id: OptionalText = None
    actor_user_id: OptionalText = None
    actor_api_key_id: OptionalText = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = None

    @field_validator("cursor")
    @classmethod
    def _valid_cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @model_validator(mode="after")
    def _ordered_range(self) -> AuditQuery:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since must not be after until")
        return self

    @property
    def before_seq(self) -> int | None:
        """Only entries below this seq (from the cursor)."""
        return decode_cursor(self.cursor) if self.cursor is not None else None


class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: tuple[AuditEntry, ...]
    next_cursor: str | None = None  # None on the last page


def encode_cursor(before_seq: int) -> str:
    raw = json.dumps({"v": 1, "before": before_seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor continues below; ValueError for anything `encode_cursor` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise ValueError("invalid cursor") from error
    if not isinstance(data, dict) or data.get("v") != 1:
        raise ValueError("invalid cursor")
    before = data.get("before")
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise ValueError("invalid cursor")
    return before


def _floats(value: JsonValue) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _floats(item) for key, item in value.items()}
    return value
