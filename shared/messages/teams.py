"""API models of teams, their members, roles, invitations and the audit log's HTTP side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.messages.fields import Text, Timestamp
from shared.messages.permissions import Permission, Role

MAX_PAGE = 200


def _canonical_uuid(value: UUID) -> str:
    return str(value)


# Path ids are UUIDs: anything else is a 422 before it reaches SQL.
Id = Annotated[UUID, AfterValidator(_canonical_uuid)]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
]
TeamName = Annotated[Text, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
# No control character either (the pattern is the field's whole rule, so it says so itself).
Email = Annotated[
    str,
    StringConstraints(
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^@\s\x00-\x1f\x7f-\x9f]+\.[^@\s\x00-\x1f\x7f-\x9f]+$",
    ),
]
GitHubLogin = Annotated[
    str, StringConstraints(min_length=1, max_length=39, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(_Input):
    """Cursor pagination: `cursor` is the `next_cursor` of the previous page (opaque)."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: Text | None = Field(default=None, max_length=200)


# -- teams --------------------------------------------------------------------------------------


class TeamInfo(BaseModel):
    id: str
    account_id: str
    slug: str
    name: str
    is_default: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    your_role: Role | None = Field(default=None, description="Your role in this team, if you are in it.")


class TeamList(BaseModel):
    teams: list[TeamInfo]
    next_cursor: str | None = None


class ListTeams(Page):
    q: Text | None = Field(default=None, max_length=100, description="Part of the name or slug.")


class CreateTeam(_Input):
    name: TeamName
    slug: Slug | None = Field(default=None, description="Derived from the name when omitted.")


class TeamRef(_Input):
    team_id: Id


class RenameTeam(_Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"x-mno-rules": ["at least one of: name, slug"]}
    )

    team_id: Id
    name: TeamName | None = None
    slug: Slug | None = None

    @model_validator(mode="after")
    def _something(self) -> RenameTeam:
        if self.name is None and self.slug is None:
            raise ValueError("give name, slug or both")
        return self


class TeamDeletion(BaseModel):
    """A deleted team: gone from every list now, its data purged by every agent in the background."""

    team: TeamInfo
    purge_request_id: str


# -- members ------------------------------------------------------------------------------------


class MemberInfo(BaseModel):
    user_id: str
    login: str
    name: str | None
    role: Role
    joined_at: datetime


class MemberList(BaseModel):
    members: list[MemberInfo]
    next_cursor: str | None = None


class ListMembers(Page):
    role: Role | None = None


class MemberRef(_Input):
    user_id: Id


class ChangeRole(_Input):
    user_id: Id
    role: Role


class LeaveTeam(_Input):
    """Leaving is explicit about which team: the acting team must be this one."""

    team_id: Id


class LeftTeam(BaseModel):
    team_id: str
    user_id: str


# -- roles --------------------------------------------------------------------------------------


class RoleInfo(BaseModel):
    role: Role
    permissions: list[Permission]


class RoleMatrix(BaseModel):
    """Every role and the permissions it grants (the table of docs/PERMISSIONS.md)."""

    roles: list[RoleInfo]
    permissions: list[Permission]


# -- invitations --------------------------------------------------------------------------------

InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]


class InvitationInfo(BaseModel):
    """An invitation as listed: never its token."""

    id: str
    team_id: str
    email: str | None
    github_login: str | None
    role: Role
    status: InvitationStatus
    invited_by: str | None
    created_at: datetime
    sent_at: datetime
    send_count: int
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    revoked_at: datetime | None


class InvitationList(BaseModel):
    invitations: list[InvitationInfo]
    next_cursor: str | None = None


class ListInvitations(Page):
    status: InvitationStatus | None = None


class CreateInvitation(_Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"x-mno-rules": ["exactly one of: email, github_login"]}
    )

    email: Email | None = None
    github_login: GitHubLogin | None = None
    role: Role = Role.MEMBER

    @model_validator(mode="after")
    def _one_invitee(self) -> CreateInvitation:
        if (self.email is None) == (self.github_login is None):
            raise ValueError("give exactly one of email and github_login")
        return self


class IssuedInvitation(BaseModel):
    """A new (or re-sent) invitation and its token, shown this once. An e-mail invitation has also
    been mailed; a GitHub-login invitation's token is for you to pass on (only that GitHub user can
    accept it)."""

    invitation: InvitationInfo
    token: str
    emailed: bool
    delivery_error: str | None = Field(default=None, description="Why the e-mail could not be sent.")


class InvitationRef(_Input):
    invitation_id: Id


class AcceptInvitation(_Input):
    token: Text = Field(min_length=1, max_length=200)


class AcceptedInvitation(BaseModel):
    invitation: InvitationInfo
    member: MemberInfo
    team: TeamInfo


# -- audit --------------------------------------------------------------------------------------


class AuditFilter(_Input):
    """Filters of GET /api/v1/audit; `actor` is a user id or an API key id."""

    action: Text | None = Field(default=None, max_length=128)
    actor: Text | None = Field(default=None, max_length=256)
    resource: Text | None = Field(default=None, max_length=64, description="A resource type, e.g. `team`.")
    resource_id: Text | None = Field(default=None, max_length=256)
    since: Timestamp | None = None
    until: Timestamp | None = None
    limit: int = Field(default=100, ge=1, le=500)
    cursor: Text | None = Field(default=None, max_length=200)


class AuditExport(_Input):
    format: Literal["jsonl", "csv"] = "jsonl"
