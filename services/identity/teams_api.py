"""The /api/v1/teams operations: the teams of the caller's account that the caller is in.

A request acts in one team (the principal's); a route naming another team of the same account is
allowed by the caller's role in *that* team, read fresh in the transaction. Teams the caller is not
in are indistinguishable from missing ones (404). An API key reaches only its own team.

Audit entries go to the chain of the team that changed, except for creation and deletion, which are
recorded in the acting team's chain: a deleted team's chain is purged with its data, and the
deletion must outlive it. That is also why the acting team itself cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from services.identity import members, teams, users
from services.identity.audit_api import Acting
from services.identity.plans import PlanBook
from shared.bus.client import Bus
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.identity import SessionInfo, SessionUser, TeamMembership
from shared.messages.lifecycle import TeamDataPurgeRequested
from shared.messages.permissions import Permission, Role, allows, effective_permissions
from shared.messages.registry import TEAM_DATA_PURGE_REQUESTED
from shared.messages.teams import (
    CreateTeam,
    ListTeams,
    RenameTeam,
    TeamDeletion,
    TeamInfo,
    TeamList,
    TeamRef,
)
from shared.principals import team_of


def not_found(what: str, ident: str) -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"no {what} {ident} in your reach")


async def current_principal(conn: Connection, principal: Principal, team_id: str) -> Principal | None:
    """What `principal` may do in `team_id` now: an API key only in its own team, with its own list;
    a person by their current role there (a role changed since authentication counts). None when
    they are not in that team.

    A key's role is its creator's current role in its team: it says whose key it is (what the key
    may do stays its own list), so "your role" reads the same whatever the credential."""
    if principal.api_key_id is not None:
        if principal.team_id != team_id:
            return None
        role = await caller_role(conn, principal, team_id)
        return principal.model_copy(update={"roles": (role.value,) if role else ()})
    if principal.user_id is None:
        return None
    member = await members.get(conn, team_id, principal.user_id)
    if member is None:
        return None
    return Principal(team_id=team_id, user_id=principal.user_id, roles=(member.role.value,))


async def caller_role(conn: Connection, principal: Principal, team_id: str) -> Role | None:
    """The caller's role in `team_id`, read now: a person's own, an API key's creator's (None for a
    key made without a user, or whose creator has left), None for a credential of no team."""
    if principal.user_id is None or principal.user_id == "system":
        return None
    if principal.api_key_id is not None and principal.team_id != team_id:
        return None
    member = await members.get(conn, team_id, principal.user_id)
    return member.role if member is not None else None


async def describe_caller(conn: Connection, principal: Principal) -> SessionInfo:
    """Who `principal` is, for `GET /api/v1/session`: a person's teams; an API key's own team (with
    its creator's role there); the operator token's permissions, which reach no team."""
    if principal.api_key_id is None and principal.user_id is None:
        return SessionInfo(
            credential="operator",
            user=None,
            teams=[],
            role=principal.roles[0] if principal.roles else None,
            permissions=sorted(effective_permissions(principal)),
        )
    user: SessionUser | None = None
    memberships: list[users.Membership] = []
    if principal.user_id is not None:
        login = await conn.fetchval(
            "SELECT login FROM super_agent.users WHERE id = $1::uuid", principal.user_id
        )
        user = SessionUser(id=principal.user_id, login=login) if login is not None else None
        if principal.api_key_id is None:
            memberships = await users.memberships(conn, principal.user_id)
    acting = principal.team_id
    role = await caller_role(conn, principal, acting) if acting is not None else None
    teams_of_caller = [
        TeamMembership(team_id=m.team_id, slug=m.slug, name=m.name, role=m.role, account=m.account_login)
        for m in memberships
    ]
    if principal.api_key_id is not None and acting is not None:
        # A key reaches its own team only, even when its creator has left it (role None then).
        row = await conn.fetchrow(
            "SELECT t.slug, t.name, a.login FROM super_agent.teams t "
            "JOIN super_agent.accounts a ON a.id = t.account_id WHERE t.id = $1::uuid",
            acting,
        )
        teams_of_caller = (
            [
                TeamMembership(
                    team_id=acting,
                    slug=row["slug"],
                    name=row["name"],
                    role=role.value if role is not None else None,
                    account=row["login"],
                )
            ]
            if row is not None
            else []
        )
    return SessionInfo(
        credential="api_key" if principal.api_key_id is not None else "session",
        user=user,
        teams=teams_of_caller,
        team_id=acting,
        role=role.value if role is not None else None,
        permissions=sorted(effective_permissions(principal)),
        api_key_id=principal.api_key_id,
    )


async def team_in_reach(
    conn: Connection, principal: Principal, team_id: str, *, lock: bool = False
) -> tuple[TeamInfo, Principal]:
    """The live team `team_id` of the caller's account, and what the caller may do in it; 404 unless
    the caller is in it."""
    acting_team = await teams.get(conn, team_of(principal))
    if acting_team is None:
        raise not_found("team", team_id)
    team = await teams.get(conn, team_id, lock=lock)
    if team is None or team.account_id != acting_team.account_id:
        raise not_found("team", team_id)
    there = await current_principal(conn, principal, team_id)
    if there is None:
        raise not_found("team", team_id)
    role = there.roles[0] if there.roles else None
    return team.model_copy(update={"your_role": Role(role) if role else None}), there


async def lock_acting_team(conn: Connection, principal: Principal) -> tuple[str, Principal]:
    """Lock the team the request acts in (every membership change of a team holds this lock) and
    return what the caller may do in it as of now."""
    team_id = team_of(principal)
    if await teams.get(conn, team_id, lock=True) is None:
        raise not_found("team", team_id)
    now = await current_principal(conn, principal, team_id)
    if now is None:
        raise AgentError(ErrorCode.FORBIDDEN, "you are no longer in this team")
    return team_id, now


def require(principal: Principal, permission: Permission) -> None:
    if not allows(principal, permission):
        raise AgentError(ErrorCode.FORBIDDEN, f"this needs the {permission.value} permission in that team")


async def list_teams(pool: Any, principal: Principal, request: ListTeams) -> TeamList:
    after = page_after(request.cursor)
    async with pool.acquire() as conn:
        acting_team = await teams.get(conn, team_of(principal))
        if acting_team is None:
            return TeamList(teams=[])
        if principal.api_key_id is not None or principal.user_id is None:
            mine, _ = await team_in_reach(conn, principal, acting_team.id)
            wanted = not request.q or request.q.lower() in f"{mine.name.lower()} {mine.slug}"
            return TeamList(teams=[mine] if wanted and after is None else [])
        page, cursor = await teams.list_for_user(
            conn, acting_team.account_id, principal.user_id, limit=request.limit, after=after, q=request.q
        )
    return TeamList(teams=page, next_cursor=cursor)


async def get_team(pool: Any, principal: Principal, request: TeamRef) -> TeamInfo:
    async with pool.acquire() as conn:
        team, _ = await team_in_reach(conn, principal, str(request.team_id))
    return team


async def create_team(pool: Any, plans: PlanBook, acting: Acting, request: CreateTeam) -> TeamInfo:
    """A new team in the acting team's account; its creator (the key's creator, for an API key)
    becomes its owner."""
    principal = acting.principal
    if principal.user_id is None:
        raise AgentError(ErrorCode.FORBIDDEN, "a team needs an owner: this credential has no user")
    async with pool.acquire() as conn, conn.transaction():
        acting_team = await teams.get(conn, team_of(principal), lock=True)
        if acting_team is None:
            raise not_found("team", team_of(principal))
        await plans.require_seat(conn, acting_team.account_id, principal.user_id)
        try:
            team = await teams.create(
                conn,
                acting_team.account_id,
                name=request.name,
                slug=request.slug or teams.slugify(request.name),
            )
        except teams.SlugTaken as taken:
            raise _slug_taken(str(taken)) from taken
        await members.add(conn, team.id, principal.user_id, Role.OWNER)
        await acting.record(conn, acting_team.id, "teams.create", "team", team.id, after=_state(team))
    return team.model_copy(update={"your_role": Role.OWNER})


async def rename_team(pool: Any, acting: Acting, request: RenameTeam) -> TeamInfo:
    async with pool.acquire() as conn, conn.transaction():
        before, there = await team_in_reach(conn, acting.principal, str(request.team_id), lock=True)
        require(there, Permission.TEAMS_UPDATE)
        try:
            after = await teams.rename(conn, before.id, name=request.name, slug=request.slug)
        except teams.SlugTaken as taken:
            raise _slug_taken(str(taken)) from taken
        await acting.record(
            conn, after.id, "teams.update", "team", after.id, before=_state(before), after=_state(after)
        )
    return after.model_copy(update={"your_role": before.your_role})


async def delete_team(pool: Any, bus: Bus, acting: Acting, request: TeamRef) -> TeamDeletion:
    """Delete a team with its data: memberships and keys end now, the team disappears from every
    list, and every agent is asked to purge what it holds for it (services/mesh/purge.py); when all
    have confirmed, lifecycle.complete_purge removes the team's row. If the publish fails, the
    lifecycle job's resend of unconfirmed purges sends it later."""
    team_id = str(request.team_id)
    request_id = f"team:{team_id}"
    async with pool.acquire() as conn, conn.transaction():
        team, there = await team_in_reach(conn, acting.principal, team_id, lock=True)
        require(there, Permission.TEAMS_DELETE)
        if team.is_default:
            raise AgentError(ErrorCode.CONFLICT, "an account's default team cannot be deleted")
        if team.id == acting.principal.team_id:
            raise AgentError(
                ErrorCode.CONFLICT,
                "you are acting in this team: act in another team of the account (X-MNO-Team) to delete it",
            )
        deleted = await teams.mark_deleted(conn, team.id)
        await conn.execute("DELETE FROM super_agent.team_members WHERE team_id = $1::uuid", team.id)
        await conn.execute(
            "UPDATE super_agent.api_keys SET revoked_at = now() "
            "WHERE team_id = $1::uuid AND revoked_at IS NULL",
            team.id,
        )
        # account_id stays NULL: complete_purge would otherwise end the whole account.
        await conn.execute(
            "INSERT INTO super_agent.purge_requests (request_id, team_ids, reason) "
            "VALUES ($1, ARRAY[$2::uuid], 'team deleted')",
            request_id,
            team.id,
        )
        await acting.record(
            conn,
            team_of(acting.principal),
            "teams.delete",
            "team",
            team.id,
            before=_state(team),
            after=_state(deleted),
        )
    await bus.publish(
        TEAM_DATA_PURGE_REQUESTED,
        TeamDataPurgeRequested(request_id=request_id, team_ids=[team.id], reason="team deleted"),
        acting.system_context(),
        message_id=f"purge:{request_id}:initial",
    )
    return TeamDeletion(team=deleted, purge_request_id=request_id)


def _state(team: TeamInfo) -> dict[str, Any]:
    return {"name": team.name, "slug": team.slug, "deleted": team.deleted_at is not None}


def _slug_taken(slug: str) -> AgentError:
    return AgentError(
        ErrorCode.CONFLICT,
        f"the account already has a team with slug {slug!r}",
        [{"loc": "slug", "message": "already taken", "type": "conflict"}],
    )


def page_after(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        first, second = teams.decode_cursor(cursor, 2)
    except ValueError as error:
        raise AgentError(
            ErrorCode.VALIDATION_FAILED,
            "invalid cursor",
            [{"loc": "cursor", "message": "not a cursor of this list", "type": "value_error"}],
        ) from error
    return first, second
