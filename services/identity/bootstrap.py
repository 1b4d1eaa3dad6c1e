"""The local account `mno run` makes for a first look without GitHub: one team, one owner, one key."""

from __future__ import annotations

from typing import Any

from services.identity import apikeys
from shared.messages.permissions import Role, permissions_of_roles

LOCAL_LOGIN = "local"
LOCAL_ADMIN = "local-admin"


async def ensure_local_admin(pool: Any) -> str:
    """Create (or find) the local account, its default team and owner, and issue a new owner key."""
    async with pool.acquire() as conn, conn.transaction():
        account_id = await conn.fetchval(
            "SELECT id FROM super_agent.accounts WHERE kind = 'Local' AND login = $1", LOCAL_LOGIN
        )
        if account_id is None:
            account_id = await conn.fetchval(
                "INSERT INTO super_agent.accounts (login, kind) VALUES ($1, 'Local') RETURNING id",
                LOCAL_LOGIN,
            )
        team_id = await conn.fetchval(
            """
            INSERT INTO super_agent.teams (account_id, slug, name, is_default)
            VALUES ($1, 'local', 'Local', true)
            ON CONFLICT (account_id, slug) DO UPDATE SET name = super_agent.teams.name
            RETURNING id::text
            """,
            account_id,
        )
        user_id = await conn.fetchval(
            """
            INSERT INTO super_agent.users (login, name) VALUES ($1, 'Local administrator')
            ON CONFLICT (login) WHERE github_id IS NULL DO UPDATE SET updated_at = now()
            RETURNING id::text
            """,
            LOCAL_ADMIN,
        )
        await conn.execute(
            "INSERT INTO super_agent.team_members (team_id, user_id, role) "
            "VALUES ($1::uuid, $2::uuid, 'owner') "
            "ON CONFLICT (team_id, user_id) DO UPDATE SET role = 'owner'",
            team_id,
            user_id,
        )
        _info, token = await apikeys.create(
            conn,
            team_id=team_id,
            name="local administrator (made by mno run)",
            permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
            created_by=user_id,
        )
    return token
