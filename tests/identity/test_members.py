"""Members and roles on a real PostgreSQL: role changes without escalation, removal, leaving, the last
owner kept even when requests race, and an audit entry for every change."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from services.identity import members_api
from services.identity.audit_api import Acting
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission, Role
from shared.messages.teams import ChangeRole, LeaveTeam, ListMembers, MemberRef
from tests.identity.test_teams_support import account, audit_actions, person


async def test_role_change_is_recorded_with_before_and_after(migrated_pool: asyncpg.Pool) -> None:
    """An admin makes a member a viewer; the answer is the new state and the audit entry holds both."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    bob = await person(migrated_pool, team, "bob", Role.MEMBER)
    changed = await members_api.change_role(
        migrated_pool, admin.acting, ChangeRole(user_id=bob.user_id, role="viewer")
    )
    assert changed.role is Role.VIEWER
    entry = await migrated_pool.fetchrow(
        "SELECT action, actor_user_id, actor_ip, resource_id, before::text, after::text "
        "FROM super_agent.audit_entries WHERE team_id = $1::uuid",
        team,
    )
    assert entry["action"] == "members.role_change"
    assert entry["actor_user_id"] == admin.user_id
    assert entry["actor_ip"] == "127.0.0.1"
    assert entry["resource_id"] == bob.user_id
    assert '"member"' in entry["before"]
    assert '"viewer"' in entry["after"]


@pytest.mark.parametrize(
    ("actor_role", "target_role", "new_role"),
    [
        (Role.ADMIN, Role.MEMBER, Role.OWNER),  # grant above own
        (Role.ADMIN, Role.MEMBER, Role.BILLING),  # billing is not a rung below admin
        (Role.ADMIN, Role.OWNER, Role.MEMBER),  # demote someone above you
    ],
)
async def test_no_role_escalation(
    migrated_pool: asyncpg.Pool, actor_role: Role, target_role: Role, new_role: Role
) -> None:
    """Nobody grants a role carrying permissions they lack, or changes someone whose role does."""
    _, team = await account(migrated_pool, "acme")
    await person(migrated_pool, team, "root", Role.OWNER)
    actor = await person(migrated_pool, team, "actor", actor_role)
    target = await person(migrated_pool, team, "target", target_role)
    with pytest.raises(AgentError) as refused:
        await members_api.change_role(
            migrated_pool, actor.acting, ChangeRole(user_id=target.user_id, role=new_role)
        )
    assert refused.value.body.code is ErrorCode.FORBIDDEN
    assert refused.value.body.details[0]["type"] == "escalation"
    row = await migrated_pool.fetchval(
        "SELECT role FROM super_agent.team_members WHERE user_id = $1::uuid", target.user_id
    )
    assert row == target_role.value
    assert await audit_actions(migrated_pool, team) == []


async def test_api_key_cannot_grant_beyond_its_own_permissions(migrated_pool: asyncpg.Pool) -> None:
    """A key holding members:manage but not all of admin's permissions cannot make anyone admin."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    bob = await person(migrated_pool, team, "bob", Role.VIEWER)
    key = Principal(
        team_id=team,
        user_id=owner.user_id,
        api_key_id="k1",
        permissions=(Permission.MEMBERS_MANAGE.value, Permission.MEMBERS_READ.value),
    )
    with pytest.raises(AgentError) as refused:
        await members_api.change_role(
            migrated_pool, Acting(key), ChangeRole(user_id=bob.user_id, role="admin")
        )
    assert refused.value.body.code is ErrorCode.FORBIDDEN


async def test_last_owner_cannot_be_demoted_removed_or_leave(migrated_pool: asyncpg.Pool) -> None:
    """With one owner, demoting, removing or leaving as that owner is 409; with two, it works."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    for attempt in (
        members_api.change_role(migrated_pool, owner.acting, ChangeRole(user_id=owner.user_id, role="admin")),
        members_api.remove_member(migrated_pool, owner.acting, MemberRef(user_id=owner.user_id)),
        members_api.leave(migrated_pool, owner.acting, LeaveTeam(team_id=team)),
    ):
        with pytest.raises(AgentError) as refused:
            await attempt
        assert refused.value.body.code is ErrorCode.CONFLICT
        assert refused.value.body.details[0]["type"] == "last_owner"
    second = await person(migrated_pool, team, "second", Role.OWNER)
    left = await members_api.leave(migrated_pool, owner.acting, LeaveTeam(team_id=team))
    assert left.user_id == owner.user_id
    page = await members_api.list_members(migrated_pool, second.principal, ListMembers())
    assert [(m.login, m.role) for m in page.members] == [("second", Role.OWNER)]
    assert await audit_actions(migrated_pool, team) == ["members.leave"]


async def test_two_owners_leaving_at_once_leave_one_owner(migrated_pool: asyncpg.Pool) -> None:
    """Both owners leave concurrently (many rounds): exactly one succeeds, the other gets 409."""
    for round_ in range(8):
        _, team = await account(migrated_pool, f"race{round_}")
        first = await person(migrated_pool, team, f"a{round_}", Role.OWNER)
        second = await person(migrated_pool, team, f"b{round_}", Role.OWNER)
        results = await asyncio.gather(
            members_api.leave(migrated_pool, first.acting, LeaveTeam(team_id=team)),
            members_api.leave(migrated_pool, second.acting, LeaveTeam(team_id=team)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1, results
        assert isinstance(errors[0], AgentError)
        assert errors[0].body.code is ErrorCode.CONFLICT
        owners = await migrated_pool.fetchval(
            "SELECT count(*) FROM super_agent.team_members WHERE team_id = $1::uuid AND role = 'owner'", team
        )
        assert owners == 1


async def test_two_owners_demoting_each_other_at_once_keep_an_owner(migrated_pool: asyncpg.Pool) -> None:
    """Two owners demote each other concurrently: one wins, the loser is no longer owner and is refused."""
    for round_ in range(8):
        _, team = await account(migrated_pool, f"duel{round_}")
        first = await person(migrated_pool, team, f"x{round_}", Role.OWNER)
        second = await person(migrated_pool, team, f"y{round_}", Role.OWNER)
        results = await asyncio.gather(
            members_api.change_role(
                migrated_pool, first.acting, ChangeRole(user_id=second.user_id, role="admin")
            ),
            members_api.change_role(
                migrated_pool, second.acting, ChangeRole(user_id=first.user_id, role="admin")
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(r, AgentError) for r in results) == 1, results
        owners = await migrated_pool.fetchval(
            "SELECT count(*) FROM super_agent.team_members WHERE team_id = $1::uuid AND role = 'owner'", team
        )
        assert owners == 1


async def test_removal_revokes_the_members_keys_and_is_audited(migrated_pool: asyncpg.Pool) -> None:
    """Removing a member ends their API keys for the team; the entry names the actor and the member."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    bob = await person(migrated_pool, team, "bob", Role.ADMIN)
    await migrated_pool.execute(
        "INSERT INTO super_agent.api_keys (key_id, team_id, name, secret_hash, permissions, created_by) "
        "VALUES ('bobkey000000', $1::uuid, 'b', '\\x00', '{mesh:read}', $2::uuid)",
        team,
        bob.user_id,
    )
    removed = await members_api.remove_member(migrated_pool, owner.acting, MemberRef(user_id=bob.user_id))
    assert removed.role is Role.ADMIN
    assert await migrated_pool.fetchval(
        "SELECT revoked_at IS NOT NULL FROM super_agent.api_keys WHERE key_id = 'bobkey000000'"
    )
    with pytest.raises(AgentError) as missing:
        await members_api.get_member(migrated_pool, owner.principal, MemberRef(user_id=bob.user_id))
    assert missing.value.body.code is ErrorCode.NOT_FOUND
    assert await audit_actions(migrated_pool, team) == ["members.remove"]


async def test_a_demoted_actor_loses_authority_at_once(migrated_pool: asyncpg.Pool) -> None:
    """An admin demoted after authenticating is refused: the role is read again under the lock."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    bob = await person(migrated_pool, team, "bob", Role.MEMBER)
    await members_api.change_role(
        migrated_pool, owner.acting, ChangeRole(user_id=admin.user_id, role="viewer")
    )
    with pytest.raises(AgentError) as refused:  # admin.acting still claims the admin role
        await members_api.change_role(
            migrated_pool, admin.acting, ChangeRole(user_id=bob.user_id, role="viewer")
        )
    assert refused.value.body.code is ErrorCode.FORBIDDEN


async def test_member_list_pages_and_filters(migrated_pool: asyncpg.Pool) -> None:
    """Members page by a cursor without gaps or repeats, and filter by role."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    for index in range(5):
        await person(migrated_pool, team, f"m{index}", Role.VIEWER if index % 2 else Role.MEMBER)
    seen: list[str] = []
    cursor = None
    while True:
        page = await members_api.list_members(
            migrated_pool, owner.principal, ListMembers(limit=2, cursor=cursor)
        )
        seen += [m.login for m in page.members]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(["root", "m0", "m1", "m2", "m3", "m4"])
    assert len(seen) == 6
    viewers = await members_api.list_members(migrated_pool, owner.principal, ListMembers(role="viewer"))
    assert sorted(m.login for m in viewers.members) == ["m1", "m3"]
