"""The Team page's routes: members and roles, invitations, API keys, the audit log and its chain.

Every write is a small form posted by htmx to a route here with the permission of the API route it
calls in-process (`PATCH`/`DELETE /api/v1/members/{user_id}`, `POST /api/v1/invitations`,
`.../resend`, `DELETE /api/v1/invitations/{id}`, `POST`/`DELETE /api/v1/apikeys`); it answers the
panel to swap in. Ids travel in the JSON body, not the path, so these routes have no `{id}` of their
own: the API route's team scoping is the one check. A secret (a new key's token, an invitation's)
is in that one answer and nowhere else: a reload lists the key without it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from services.audit.models import AuditEntry, AuditPage
from services.dashboard import render, team
from services.dashboard.answers import Unavailable
from services.dashboard.pages import TEAM, Chrome, chrome
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.fields import Text, Timestamp
from shared.messages.identity import ApiKeyInfo, ApiKeyList, CreatedApiKey, SessionInfo
from shared.messages.permissions import Permission, Role
from shared.messages.teams import InvitationInfo, InvitationList, IssuedInvitation, MemberInfo, MemberList

MEMBERS = "/api/v1/members"
INVITATIONS = "/api/v1/invitations"
APIKEYS = "/api/v1/apikeys"
AUDIT = "/api/v1/audit"
BASE = TEAM.path

Id = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+$")


class AuditView(BaseModel):
    """The page's query string: the audit log's filters (a URL keeps them)."""

    model_config = ConfigDict(extra="ignore")

    action: Text | None = Field(default=None, max_length=128)
    actor: Text | None = Field(default=None, max_length=256)
    resource: Text | None = Field(default=None, max_length=64)
    since: Timestamp | None = None
    until: Timestamp | None = None
    cursor: Text | None = Field(default=None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # An empty field of the filter form is no filter (the browser sends `action=`).
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v not in (None, "")}
        return data

    def query(self) -> dict[str, str]:
        """The filters as the page's query string spells them."""
        return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in self.filters().items()}

    def filters(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None and k != "cursor"}


# -- reading -----------------------------------------------------------------------------------


async def _members(api: EdgeApi, me: str | None, permissions: frozenset[Permission]) -> Any:
    found = await attempt(api.get(MEMBERS, MemberList, limit=200))
    if isinstance(found, Unavailable):
        return found
    return team.member_rows(found.members, me=me, permissions=permissions)


async def _invitations(api: EdgeApi) -> Any:
    found = await attempt(api.get(INVITATIONS, InvitationList, limit=100))
    return found if isinstance(found, Unavailable) else team.invitation_rows(found.invitations)


async def _keys(api: EdgeApi) -> Any:
    found = await attempt(api.get(APIKEYS, ApiKeyList, include_revoked=True))
    return found if isinstance(found, Unavailable) else team.key_rows(found.keys)


def _panel(template: str, frame: Chrome, **context: Any) -> web.Response:
    return render.html(
        template, chrome=frame, Unavailable=Unavailable, Permission=Permission, roles=team.ROLES, **context
    )


async def team_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    view: AuditView = call.input
    session = await api.get("/api/v1/session", SessionInfo)
    frame = chrome(session, TEAM)
    me = session.user.id if session.user else None
    members, invitations, keys, audit = await asyncio.gather(
        _members(api, me, frame.permissions),
        _invitations(api),
        _keys(api),
        attempt(api.get(AUDIT, AuditPage, limit=team.AUDIT_SHOWN, cursor=view.cursor, **view.filters())),
    )
    logins = {} if isinstance(members, Unavailable) else {m.user_id: m.login for m in members}
    audit_rows = audit if isinstance(audit, Unavailable) else team.audit_rows(audit.entries, logins)
    next_cursor = None if isinstance(audit, Unavailable) else audit.next_cursor
    older = None
    if next_cursor is not None:
        older = f"{BASE}?{urlencode({**view.query(), 'cursor': next_cursor})}"
    return render.html(
        "team.html",
        chrome=frame,
        members=members,
        invitations=invitations,
        keys=keys,
        audit=audit_rows,
        audit_older=older,
        filters=view,
        key_access=team.KEY_ACCESS,
        roles=team.ROLES,
        issued=None,
        created=None,
        problem=None,
        Unavailable=Unavailable,
        Permission=Permission,
    )


async def audit_chain(call: Call) -> web.StreamResponse:
    """The hash chain of the team's audit log, read through `GET /api/v1/audit` (a fragment)."""
    api = EdgeApi(call.request, call.ctx)
    entries: list[AuditEntry] = []
    cursor: str | None = None
    complete = False
    while len(entries) < team.CHAIN_MAX_ENTRIES:
        page = await attempt(api.get(AUDIT, AuditPage, limit=team.CHAIN_PAGE, cursor=cursor))
        if isinstance(page, Unavailable):
            return render.html("partials/audit_chain.html", chain=page)
        entries.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            complete = True
            break
    return render.html("partials/audit_chain.html", chain=team.chain_status(entries, complete=complete))


# -- members -----------------------------------------------------------------------------------


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Id
    role: Role


class MemberChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Id


async def _members_panel(api: EdgeApi, problem: Unavailable | None) -> web.Response:
    session = await api.get("/api/v1/session", SessionInfo)
    frame = chrome(session, TEAM)
    members = await _members(api, session.user.id if session.user else None, frame.permissions)
    return _panel("partials/team_members.html", frame, members=members, problem=problem)


async def change_role(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: RoleChange = call.input
    done = await attempt(
        api.call("PATCH", f"{MEMBERS}/{{user_id}}", MemberInfo, {"user_id": form.user_id, "role": form.role})
    )
    return await _members_panel(api, done if isinstance(done, Unavailable) else None)


async def remove_member(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: MemberChoice = call.input
    done = await attempt(api.call("DELETE", f"{MEMBERS}/{{user_id}}", MemberInfo, {"user_id": form.user_id}))
    return await _members_panel(api, done if isinstance(done, Unavailable) else None)


# -- invitations -------------------------------------------------------------------------------


class Invite(BaseModel):
    """Who: an e-mail address or a GitHub login, in one field (an `@` inside means e-mail)."""

    model_config = ConfigDict(extra="forbid")

    invitee: Text = Field(min_length=1, max_length=254)
    role: Role = Role.MEMBER


class InvitationChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invitation_id: str = Id


async def _invitations_panel(
    api: EdgeApi, issued: IssuedInvitation | None, problem: Unavailable | None
) -> web.Response:
    frame, invitations = await asyncio.gather(page_chrome(api, TEAM), _invitations(api))
    return _panel(
        "partials/team_invitations.html", frame, invitations=invitations, issued=issued, problem=problem
    )


async def invite(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: Invite = call.input
    who = form.invitee.strip()
    invitee = {"email": who} if "@" in who.strip("@") else {"github_login": who.lstrip("@")}
    done = await attempt(api.post(INVITATIONS, IssuedInvitation, {**invitee, "role": form.role}))
    if isinstance(done, Unavailable):
        return await _invitations_panel(api, None, done)
    return await _invitations_panel(api, done, None)


async def resend_invitation(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: InvitationChoice = call.input
    done = await attempt(
        api.post(f"{INVITATIONS}/{{invitation_id}}/resend", IssuedInvitation, form.model_dump())
    )
    if isinstance(done, Unavailable):
        return await _invitations_panel(api, None, done)
    return await _invitations_panel(api, done, None)


async def revoke_invitation(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: InvitationChoice = call.input
    done = await attempt(
        api.call("DELETE", f"{INVITATIONS}/{{invitation_id}}", InvitationInfo, form.model_dump())
    )
    return await _invitations_panel(api, None, done if isinstance(done, Unavailable) else None)


# -- API keys ----------------------------------------------------------------------------------


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    access: team.KeyAccess = "ingest"


class KeyChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]+$")


async def _keys_panel(
    api: EdgeApi, created: CreatedApiKey | None, problem: Unavailable | None
) -> web.Response:
    frame, keys = await asyncio.gather(page_chrome(api, TEAM), _keys(api))
    return _panel(
        "partials/team_keys.html",
        frame,
        keys=keys,
        created=created,
        problem=problem,
        key_access=team.KEY_ACCESS,
    )


async def create_key(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: NewKey = call.input
    session = await api.get("/api/v1/session", SessionInfo)
    permissions = team.key_permissions(form.access, session.permissions)
    done = await attempt(api.post(APIKEYS, CreatedApiKey, {"name": form.name, "permissions": permissions}))
    if isinstance(done, Unavailable):
        return await _keys_panel(api, None, done)
    return await _keys_panel(api, done, None)


async def revoke_key(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: KeyChoice = call.input
    done = await attempt(api.call("DELETE", f"{APIKEYS}/{{key_id}}", ApiKeyInfo, form.model_dump()))
    return await _keys_panel(api, None, done if isinstance(done, Unavailable) else None)


# -- the table ---------------------------------------------------------------------------------


TEAM_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        BASE,
        "Team page: members and roles, invitations, API keys, the audit log (filters, export, chain).",
        TEAM.permission,
        team_page,
        request=AuditView,
    ),
    page_route(
        "GET",
        f"{BASE}/audit-chain",
        "Team fragment: the audit log's hash chain, checked over GET /api/v1/audit.",
        Permission.AUDIT_READ,
        audit_chain,
    ),
    page_route(
        "POST",
        f"{BASE}/role",
        "Team fragment: change a member's role (PATCH /api/v1/members/{user_id}); answers the members panel.",
        Permission.MEMBERS_MANAGE,
        change_role,
        request=RoleChange,
    ),
    page_route(
        "POST",
        f"{BASE}/remove",
        "Team fragment: remove a member (DELETE /api/v1/members/{user_id}); answers the members panel.",
        Permission.MEMBERS_MANAGE,
        remove_member,
        request=MemberChoice,
    ),
    page_route(
        "POST",
        f"{BASE}/invite",
        "Team fragment: invite by e-mail or GitHub login (POST /api/v1/invitations); answers the "
        "invitations panel with the invitation's token, shown this once.",
        Permission.MEMBERS_INVITE,
        invite,
        request=Invite,
    ),
    page_route(
        "POST",
        f"{BASE}/invitations/resend",
        "Team fragment: resend an invitation (POST /api/v1/invitations/{invitation_id}/resend).",
        Permission.MEMBERS_INVITE,
        resend_invitation,
        request=InvitationChoice,
    ),
    page_route(
        "POST",
        f"{BASE}/invitations/revoke",
        "Team fragment: revoke an invitation (DELETE /api/v1/invitations/{invitation_id}).",
        Permission.MEMBERS_INVITE,
        revoke_invitation,
        request=InvitationChoice,
    ),
    page_route(
        "POST",
        f"{BASE}/keys",
        "Team fragment: create an API key (POST /api/v1/apikeys); answers the keys panel with the "
        "token, shown this once.",
        Permission.APIKEYS_CREATE,
        create_key,
        request=NewKey,
    ),
    page_route(
        "POST",
        f"{BASE}/keys/revoke",
        "Team fragment: revoke an API key (DELETE /api/v1/apikeys/{key_id}).",
        Permission.APIKEYS_REVOKE,
        revoke_key,
        request=KeyChoice,
    ),
]
