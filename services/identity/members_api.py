"""The /api/v1/members operations, on the members of the team the request acts in.

Every change runs with the team's row locked and re-reads the actor's own role under that lock, so
two requests that race (two owners demoting each other, both leaving) are decided one after the
other against the state the first left: a team always keeps an owner.

No escalation: a role may be given, or taken from someone, only by a caller who holds every
permission of that role (`permissions.may_grant`).
"""

from __future__ import annotations

from typing import Any

from services.identity import members
from services.identity.audit_api import Acting
from services.identity.teams_api import lock_acting_team, not_found, page_after, require
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission, Role, may_grant
from shared.messages.teams import (
    ChangeRole,
    LeaveTeam,
    LeftTeam,
    ListMembers,
    MemberInfo,
    MemberList,
    MemberRef,
)
from shared.principals import team_of


async def list_members(pool: Any, principal: Principal, request: ListMembers) -> MemberList:
    after = page_after(request.cursor)
    async with pool.acquire() as conn:
        page, cursor = await members.list_members(
            conn, team_of(principal), role=request.role, limit=request.limit, after=after
        )
    return MemberList(members=page, next_cursor=cursor)


async def get_member(pool: Any, principal: Principal, request: MemberRef) -> MemberInfo:
    async with pool.acquire() as conn:
        member = await members.get(conn, team_of(principal), str(request.user_id))
    if member is None:
        raise not_found("member", str(request.user_id))
    return member


def _may_touch(actor: Principal, target: MemberInfo) -> None:
    if not may_grant(actor, target.role):
        raise AgentError(
            ErrorCode.FORBIDDEN,
            f"you cannot change a member whose role ({target.role.value}) carries permissions you lack",
            [{"loc": "user_id", "message": f"role {target.role.value} is above yours", "type": "escalation"}],
        )


async def _keeps_an_owner(conn: Connection, team_id: str, target: MemberInfo) -> None:
    if target.role is Role.OWNER and await members.owner_count(conn, team_id) <= 1:
        raise AgentError(
            ErrorCode.CONFLICT,
            "a team must keep an owner: make someone else owner first",
            [{"loc": "user_id", "message": "the team's last owner", "type": "last_owner"}],
        )


async def change_role(pool: Any, acting: Acting, request: ChangeRole) -> MemberInfo:
    user_id = str(request.user_id)
    async with pool.acquire() as conn, conn.transaction():
        team_id, actor = await lock_acting_team(conn, acting.principal)
        require(actor, Permission.MEMBERS_MANAGE)
        target = await members.get(conn, team_id, user_id)
        if target is None:
            raise not_found("member", user_id)
        if target.role is request.role:
            return target
        _may_touch(actor, target)
        if not may_grant(actor, request.role):
            raise AgentError(
                ErrorCode.FORBIDDEN,
                f"you cannot grant the {request.role.value} role: it carries permissions you lack",
                [
                    {
                        "loc": "role",
                        "message": f"not yours to grant: {request.role.value}",
                        "type": "escalation",
                    }
                ],
            )
        await _keeps_an_owner(conn, team_id, target)
        changed = await members.set_role(conn, team_id, user_id, request.role)
        await acting.record(
            conn,
            team_id,
            "members.role_change",
            "member",
            user_id,
            before={"role": target.role.value},
            after={"role": changed.role.value},
        )
    return changed


async def remove_member(pool: Any, acting: Acting, request: MemberRef) -> MemberInfo:
    """Take someone out of the team; answers with their membership as it was."""
    user_id = str(request.user_id)
    async with pool.acquire() as conn, conn.transaction():
        team_id, actor = await lock_acting_team(conn, acting.principal)
        require(actor, Permission.MEMBERS_MANAGE)
        target = await members.get(conn, team_id, user_id)
        if target is None:
            raise not_found("member", user_id)
        _may_touch(actor, target)
        await _keeps_an_owner(conn, team_id, target)
        keys = await members.remove(conn, team_id, user_id)
        await acting.record(
            conn,
            team_id,
            "members.remove",
            "member",
            user_id,
            before={"role": target.role.value},
            after={"api_keys_revoked": keys},
        )
    return target


async def leave(pool: Any, acting: Acting, request: LeaveTeam) -> LeftTeam:
    principal = acting.principal
    if principal.api_key_id is not None or principal.user_id is None:
        raise AgentError(ErrorCode.FORBIDDEN, "only a signed-in person can leave a team")
    if str(request.team_id) != principal.team_id:
        raise AgentError(
            ErrorCode.BAD_REQUEST,
            "team_id is not the team this request acts in (choose it with X-MNO-Team)",
            [{"loc": "team_id", "message": "not the acting team", "type": "value_error"}],
        )
    async with pool.acquire() as conn, conn.transaction():
        team_id, _ = await lock_acting_team(conn, principal)
        me = await members.get(conn, team_id, principal.user_id)
        assert me is not None  # _locked found the caller's membership under the same lock
        await _keeps_an_owner(conn, team_id, me)
        keys = await members.remove(conn, team_id, principal.user_id)
        await acting.record(
            conn,
            team_id,
            "members.leave",
            "member",
            principal.user_id,
            before={"role": me.role.value},
            after={"api_keys_revoked": keys},
        )
    return LeftTeam(team_id=team_id, user_id=principal.user_id)
