"""`super_agent.prompt_repositories`: each team's prompt repository and how its last sync went."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db.inbox import Connection
from shared.messages.prompt_repository import (
    PromptRepositoryInfo,
    PromptSyncState,
    SyncedPrompt,
    SyncFileError,
)

_ACCOUNT_OF_TEAM = "(SELECT account_id FROM super_agent.teams WHERE id = $1::uuid)"


@dataclass(frozen=True)
class Connected:
    team_id: str
    installation_id: int
    repository_id: int
    full_name: str
    branch: str
    folder: str
    last_sync_sha: str | None
    last_sync_delivery_id: int | None
    last_sync_read: bool
    synced_blobs: dict[str, str]


@dataclass(frozen=True)
class GrantedRepository:
    installation_id: int
    repository_id: int
    full_name: str


async def granted_repository(conn: Connection, team_id: str, full_name: str) -> GrantedRepository | None:
    """The repository `owner/name` as an active installation of the team's account grants it (GitHub
    names are case-insensitive), or None: another account's, not granted, or the installation is
    suspended or deleted."""
    row = await conn.fetchrow(
        f"""
        SELECT r.installation_id, r.repository_id, r.full_name
        FROM super_agent.installation_repositories r
        JOIN super_agent.installations i ON i.github_id = r.installation_id
        WHERE i.account_id = {_ACCOUNT_OF_TEAM} AND i.status = 'active' AND lower(r.full_name) = lower($2)
        ORDER BY r.installation_id DESC LIMIT 1
        """,
        team_id,
        full_name,
    )
    return None if row is None else GrantedRepository(**dict(row))


async def still_granted(conn: Connection, team_id: str, installation_id: int, repository_id: int) -> bool:
    """Whether the connected repository is still granted to the team's account by that installation."""
    return bool(
        await conn.fetchval(
            f"""
            SELECT true FROM super_agent.installation_repositories r
            JOIN super_agent.installations i ON i.github_id = r.installation_id
            WHERE i.account_id = {_ACCOUNT_OF_TEAM} AND i.status = 'active'
              AND r.installation_id = $2 AND r.repository_id = $3
            """,
            team_id,
            installation_id,
            repository_id,
        )
    )


async def connect(
    conn: Connection, team_id: str, granted: GrantedRepository, branch: str, folder: str, connected_by: str
) -> None:
    """Connect or re-point the team's repository; a change of repository, branch or folder forgets
    the previous sync (the next push syncs every file)."""
    same = (
        "(prompt_repositories.repository_id, prompt_repositories.branch, prompt_repositories.folder) "
        "= (EXCLUDED.repository_id, EXCLUDED.branch, EXCLUDED.folder)"
    )
    await conn.execute(
        f"""
        INSERT INTO super_agent.prompt_repositories
            (team_id, installation_id, repository_id, full_name, branch, folder, connected_by)
        VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (team_id) DO UPDATE SET
            installation_id = EXCLUDED.installation_id, full_name = EXCLUDED.full_name,
            connected_by = EXCLUDED.connected_by, connected_at = now(),
            repository_id = EXCLUDED.repository_id, branch = EXCLUDED.branch, folder = EXCLUDED.folder,
            last_sync_sha = CASE WHEN {same} THEN prompt_repositories.last_sync_sha END,
            last_sync_delivery_id = CASE WHEN {same} THEN prompt_repositories.last_sync_delivery_id END,
            synced_blobs = CASE WHEN {same} THEN prompt_repositories.synced_blobs ELSE '{{}}'::jsonb END
        """,
        team_id,
        granted.installation_id,
        granted.repository_id,
        granted.full_name,
        branch,
        folder,
        connected_by,
    )


async def disconnect(conn: Connection, team_id: str) -> str | None:
    """Forget the team's repository; its name, or None when none was connected."""
    removed: str | None = await conn.fetchval(
        "DELETE FROM super_agent.prompt_repositories WHERE team_id = $1::uuid RETURNING full_name", team_id
    )
    return removed


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def info(conn: Connection, team_id: str) -> PromptRepositoryInfo | None:
    row = await conn.fetchrow(
        "SELECT * FROM super_agent.prompt_repositories WHERE team_id = $1::uuid", team_id
    )
    if row is None:
        return None
    last_sync = None
    if row["last_sync_sha"] is not None and row["last_synced_at"] is not None:
        last_sync = PromptSyncState(
            sha=row["last_sync_sha"],
            synced_at=row["last_synced_at"],
            delivery_guid=row["last_sync_delivery"],
            pusher=row["last_sync_pusher"],
            saved=[SyncedPrompt.model_validate(s) for s in _json(row["last_sync_saved"])],
            errors=[SyncFileError.model_validate(e) for e in _json(row["last_sync_errors"])],
        )
    return PromptRepositoryInfo(
        repository=row["full_name"],
        repository_id=row["repository_id"],
        installation_id=row["installation_id"],
        branch=row["branch"],
        folder=row["folder"],
        connected_by=row["connected_by"],
        connected_at=row["connected_at"],
        last_sync=last_sync,
    )


_CONNECTED_COLUMNS = (
    "team_id::text, installation_id, repository_id, full_name, branch, folder, last_sync_sha, "
    "last_sync_delivery_id, last_sync_read, synced_blobs"
)


def _connected(r: Any) -> Connected:
    return Connected(
        team_id=r["team_id"],
        installation_id=r["installation_id"],
        repository_id=r["repository_id"],
        full_name=r["full_name"],
        branch=r["branch"],
        folder=r["folder"],
        last_sync_sha=r["last_sync_sha"],
        last_sync_delivery_id=r["last_sync_delivery_id"],
        last_sync_read=r["last_sync_read"],
        synced_blobs=dict(_json(r["synced_blobs"])),
    )


async def connection_of(conn: Connection, team_id: str) -> Connected | None:
    row = await conn.fetchrow(
        f"SELECT {_CONNECTED_COLUMNS} FROM super_agent.prompt_repositories WHERE team_id = $1::uuid", team_id
    )
    return None if row is None else _connected(row)


async def connected_to(conn: Connection, repository_id: int, branch: str) -> list[Connected]:
    """The teams whose prompt repository is this repository and branch, locked for the sync."""
    rows = await conn.fetch(
        f"SELECT {_CONNECTED_COLUMNS} FROM super_agent.prompt_repositories "
        "WHERE repository_id = $1 AND branch = $2 ORDER BY team_id FOR UPDATE",
        repository_id,
        branch,
    )
    return [_connected(r) for r in rows]


async def record_sync(
    conn: Connection,
    team_id: str,
    *,
    sha: str,
    at: datetime,
    delivery_guid: str,
    delivery_id: int,
    read: bool,
    pusher: str | None,
    saved: list[SyncedPrompt],
    errors: list[SyncFileError],
    synced_blobs: dict[str, str],
) -> None:
    await conn.execute(
        """
        UPDATE super_agent.prompt_repositories SET last_sync_sha = $2, last_synced_at = $3,
            last_sync_delivery = $4, last_sync_pusher = $5, last_sync_saved = $6::jsonb,
            last_sync_errors = $7::jsonb, synced_blobs = $8::jsonb, last_sync_delivery_id = $9,
            last_sync_read = $10
        WHERE team_id = $1::uuid
        """,
        team_id,
        sha,
        at,
        delivery_guid,
        pusher,
        [s.model_dump(mode="json") for s in saved],
        [e.model_dump(mode="json") for e in errors],
        synced_blobs,
        delivery_id,
        read,
    )


async def member_by_github_id(conn: Connection, team_id: str, github_id: int) -> str | None:
    """The user id of the team's member with this GitHub id, if any."""
    found: str | None = await conn.fetchval(
        "SELECT u.id::text FROM super_agent.users u JOIN super_agent.team_members m ON m.user_id = u.id "
        "WHERE m.team_id = $1::uuid AND u.github_id = $2",
        team_id,
        github_id,
    )
    return found


async def account_of_team(conn: Connection, team_id: str) -> Any:
    return await conn.fetchval("SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", team_id)


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    status: str = await conn.execute(
        "DELETE FROM super_agent.prompt_repositories WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(status.split()[-1])
