"""Routes of teams, members, roles, invitations and the audit log (`TEAM_ROUTES`)."""

from __future__ import annotations

import functools
from contextlib import aclosing
from datetime import timedelta

from aiohttp import web
from pydantic import BaseModel

from agents.super_agent.edge_deps import EdgeDeps, acting, deps
from services.audit.models import AuditPage
from services.gateway.auth import CSRF_HEADER
from services.gateway.errors import HttpProblem
from services.gateway.route_table import PUBLIC, Call, Local, Route, local_route
from services.identity import audit_api, members_api, sessions, teams_api
from services.identity.invitations_api import InvitationDesk, SessionUser
from shared.email import EmailSender
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import ROLE_PERMISSIONS, Permission, Role, permissions_of_roles
from shared.messages.teams import (
    AcceptedInvitation,
    AcceptInvitation,
    AuditExport,
    AuditFilter,
    ChangeRole,
    CreateInvitation,
    CreateTeam,
    InvitationInfo,
    InvitationList,
    InvitationRef,
    IssuedInvitation,
    LeaveTeam,
    LeftTeam,
    ListInvitations,
    ListMembers,
    ListTeams,
    MemberInfo,
    MemberList,
    MemberRef,
    RenameTeam,
    RoleInfo,
    RoleMatrix,
    TeamDeletion,
    TeamInfo,
    TeamList,
    TeamRef,
)

TEAMS = ("teams",)
AUDIT = ("audit",)


def desk(edge: EdgeDeps) -> InvitationDesk:
    """Invitations as configured: TTL from auth.invitation_ttl_hours, e-mail through the `email` relay
    when it is enabled (otherwise the token is only handed to the inviter)."""
    settings = edge.runtime.settings
    public = str(settings.http.public_url).rstrip("/") if settings.http.public_url else ""
    return InvitationDesk(
        edge.pool,
        edge.plans,
        timedelta(hours=settings.auth.invitation_ttl_hours),
        accept_url=f"{public}/invitations/accept",
        mailer=EmailSender(settings.email) if settings.email.enabled else None,
    )


# -- teams --------------------------------------------------------------------------------------


async def teams_list(call: Call) -> BaseModel:
    return await teams_api.list_teams(deps(call).pool, call.ctx.principal, call.input)


async def teams_create(call: Call) -> BaseModel:
    edge = deps(call)
    return await teams_api.create_team(edge.pool, edge.plans, acting(call), call.input)


async def teams_get(call: Call) -> BaseModel:
    return await teams_api.get_team(deps(call).pool, call.ctx.principal, call.input)


async def teams_update(call: Call) -> BaseModel:
    return await teams_api.rename_team(deps(call).pool, acting(call), call.input)


async def teams_delete(call: Call) -> BaseModel:
    edge = deps(call)
    return await teams_api.delete_team(edge.pool, edge.bus, acting(call), call.input)


# -- members and roles --------------------------------------------------------------------------


async def members_list(call: Call) -> BaseModel:
    return await members_api.list_members(deps(call).pool, call.ctx.principal, call.input)


async def members_get(call: Call) -> BaseModel:
    return await members_api.get_member(deps(call).pool, call.ctx.principal, call.input)


async def members_change_role(call: Call) -> BaseModel:
    return await members_api.change_role(deps(call).pool, acting(call), call.input)


async def members_remove(call: Call) -> BaseModel:
    return await members_api.remove_member(deps(call).pool, acting(call), call.input)


async def members_leave(call: Call) -> BaseModel:
    return await members_api.leave(deps(call).pool, acting(call), call.input)


async def roles(_call: Call) -> BaseModel:
    return RoleMatrix(
        roles=[RoleInfo(role=role, permissions=sorted(permissions_of_roles((role.value,)))) for role in Role],
        permissions=list(ROLE_PERMISSIONS),
    )


# -- invitations --------------------------------------------------------------------------------


async def invitations_list(call: Call) -> BaseModel:
    return await desk(deps(call)).list(call.ctx.principal, call.input)


async def invitations_create(call: Call) -> BaseModel:
    return await desk(deps(call)).invite(acting(call), call.input)


async def invitations_get(call: Call) -> BaseModel:
    return await desk(deps(call)).get(call.ctx.principal, call.input)


async def invitations_resend(call: Call) -> BaseModel:
    return await desk(deps(call)).resend(acting(call), call.input)


async def invitations_revoke(call: Call) -> BaseModel:
    return await desk(deps(call)).revoke(acting(call), call.input)


async def invitations_accept(call: Call) -> BaseModel:
    """Session authentication only (an invitation binds a person, not a machine), with the CSRF token."""
    edge = deps(call)
    token = call.request.cookies.get(edge.cookies.session_name)
    async with edge.pool.acquire() as conn:
        session = await sessions.lookup(conn, token) if token else None
    if session is None or token is None:
        raise HttpProblem(ErrorCode.UNAUTHENTICATED, "sign in with GitHub to accept an invitation")
    if not sessions.csrf_matches(token, call.request.headers.get(CSRF_HEADER)):
        raise HttpProblem(
            ErrorCode.FORBIDDEN, f"accepting needs the {CSRF_HEADER} header of GET /api/v1/session"
        )
    user = SessionUser(user_id=session.user_id, login=session.login)
    return await desk(edge).accept(user, acting(call), call.input)


# -- audit --------------------------------------------------------------------------------------


async def audit_list(call: Call) -> BaseModel:
    return await audit_api.query(deps(call).pool, call.ctx.principal, call.input)


async def audit_export(call: Call) -> web.StreamResponse:
    edge = deps(call)
    request: AuditExport = call.input
    chunks = audit_api.export(edge.pool, call.ctx.principal, request.format)
    # Fail before the headers are sent (e.g. a credential of no team), so the error stays typed.
    async with aclosing(chunks):
        first = await anext(chunks, None)
        team = call.ctx.principal.team_id
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8"
                if request.format == "csv"
                else "application/x-ndjson",
                "Content-Disposition": f'attachment; filename="audit-{team}.{request.format}"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(call.request)
        if first is not None:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
    return response


_route = functools.partial(local_route, tags=TEAMS)


TEAM_ROUTES: list[Route] = [
    _route(
        "GET",
        "/api/v1/teams",
        "The teams of your account that you are in.",
        Permission.TEAMS_READ,
        teams_list,
        request=ListTeams,
        response=TeamList,
    ),
    _route(
        "POST",
        "/api/v1/teams",
        "Create a team in your account; you become its owner.",
        Permission.TEAMS_CREATE,
        teams_create,
        request=CreateTeam,
        response=TeamInfo,
        status=201,
        extra=(402, 409),
    ),
    _route(
        "GET",
        "/api/v1/teams/{team_id}",
        "One team of your account that you are in.",
        Permission.TEAMS_READ,
        teams_get,
        request=TeamRef,
        response=TeamInfo,
        extra=(404,),
    ),
    _route(
        "PATCH",
        "/api/v1/teams/{team_id}",
        "Rename a team (name and/or slug).",
        Permission.TEAMS_UPDATE,
        teams_update,
        request=RenameTeam,
        response=TeamInfo,
        extra=(404, 409),
    ),
    _route(
        "DELETE",
        "/api/v1/teams/{team_id}",
        "Delete a team and, in every agent, its data.",
        Permission.TEAMS_DELETE,
        teams_delete,
        request=TeamRef,
        response=TeamDeletion,
        status=202,
        extra=(404, 409),
    ),
    _route(
        "GET",
        "/api/v1/members",
        "The members of your team.",
        Permission.MEMBERS_READ,
        members_list,
        request=ListMembers,
        response=MemberList,
    ),
    _route(
        "POST",
        "/api/v1/members/leave",
        "Leave the team you act in (not as its last owner).",
        Permission.MEMBERS_READ,
        members_leave,
        request=LeaveTeam,
        response=LeftTeam,
        extra=(409,),
    ),
    _route(
        "GET",
        "/api/v1/members/{user_id}",
        "One member of your team.",
        Permission.MEMBERS_READ,
        members_get,
        request=MemberRef,
        response=MemberInfo,
        extra=(404,),
    ),
    _route(
        "PATCH",
        "/api/v1/members/{user_id}",
        "Change a member's role (never above your own).",
        Permission.MEMBERS_MANAGE,
        members_change_role,
        request=ChangeRole,
        response=MemberInfo,
        extra=(404, 409),
    ),
    _route(
        "DELETE",
        "/api/v1/members/{user_id}",
        "Remove a member; their API keys for the team stop working.",
        Permission.MEMBERS_MANAGE,
        members_remove,
        request=MemberRef,
        response=MemberInfo,
        extra=(404, 409),
    ),
    _route(
        "GET",
        "/api/v1/roles",
        "Every role and the permissions it grants.",
        Permission.ROLES_READ,
        roles,
        response=RoleMatrix,
    ),
    _route(
        "GET",
        "/api/v1/invitations",
        "Your team's invitations (never their tokens).",
        Permission.MEMBERS_READ,
        invitations_list,
        request=ListInvitations,
        response=InvitationList,
    ),
    _route(
        "POST",
        "/api/v1/invitations",
        "Invite someone by e-mail or GitHub login; the token is shown once.",
        Permission.MEMBERS_INVITE,
        invitations_create,
        request=CreateInvitation,
        response=IssuedInvitation,
        status=201,
        extra=(402, 409),
    ),
    _route(
        "GET",
        "/api/v1/invitations/{invitation_id}",
        "One of your team's invitations.",
        Permission.MEMBERS_READ,
        invitations_get,
        request=InvitationRef,
        response=InvitationInfo,
        extra=(404,),
    ),
    _route(
        "POST",
        "/api/v1/invitations/{invitation_id}/resend",
        "Send an invitation again with a new token (the old one stops working).",
        Permission.MEMBERS_INVITE,
        invitations_resend,
        request=InvitationRef,
        response=IssuedInvitation,
        extra=(404, 409),
    ),
    _route(
        "DELETE",
        "/api/v1/invitations/{invitation_id}",
        "Revoke an invitation.",
        Permission.MEMBERS_INVITE,
        invitations_revoke,
        request=InvitationRef,
        response=InvitationInfo,
        extra=(404, 409),
    ),
    Route(
        "POST",
        "/api/v1/invitations/accept",
        "Accept an invitation as the signed-in user (session cookie and CSRF token).",
        PUBLIC,
        Local(invitations_accept),
        request=AcceptInvitation,
        response=AcceptedInvitation,
        tags=TEAMS,
        extra_status=(401, 402, 403, 404, 409),
    ),
    _route(
        "GET",
        "/api/v1/audit",
        "Your team's audit log, newest first, filtered, a page at a time.",
        Permission.AUDIT_READ,
        audit_list,
        request=AuditFilter,
        response=AuditPage,
        tags=AUDIT,
    ),
    Route(
        "GET",
        "/api/v1/audit/export",
        "Your team's whole audit log, oldest first, as JSON lines or CSV (verifiable offline).",
        Permission.AUDIT_READ,
        Local(audit_export),
        request=AuditExport,
        tags=AUDIT,
        media_type="application/x-ndjson",
        other_media_types=("text/csv",),
        deadline=False,  # streams the whole log, however long
    ),
]
