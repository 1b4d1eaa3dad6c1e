"""The `learning` schema's prompt tables (asyncpg). Every query is scoped by team_id: a name or
version of another team is simply not found. Versions are only ever inserted; a label move is one
compare-and-set UPDATE (`version IS NOT DISTINCT FROM` the version the decision saw), so of two
concurrent moves the second changes no row and is told `stale`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.prompts.labels import LATEST, LabelPolicy, Move
from services.prompts.model import PromptDocument
from shared.db.inbox import Connection


@dataclass(frozen=True)
class PromptRow:
    id: str
    name: str
    type: str
    tags: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True)
class VersionRow:
    name: str
    version: int
    document: dict[str, Any]
    content_hash: str
    author: str
    commit_message: str | None
    created_at: datetime


_VERSION_COLUMNS = "name, version, document, content_hash, author, commit_message, created_at"


def _version(row: Any) -> VersionRow:
    document = row["document"]
    return VersionRow(
        row["name"],
        row["version"],
        json.loads(document) if isinstance(document, str) else document,
        row["content_hash"],
        row["author"],
        row["commit_message"],
        row["created_at"],
    )


async def lock_account(conn: Connection, account_id: str) -> None:
    """Serialise prompt creation within an account, so concurrent creations cannot pass its limit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('learning.prompts:' || $1))", account_id)


async def count_prompts(conn: Connection, team_ids: Sequence[str]) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM learning.prompts WHERE team_id = ANY($1::uuid[])", team_ids)
    )


async def prompt(conn: Connection, team_id: str, name: str, *, lock: bool = False) -> PromptRow | None:
    row = await conn.fetchrow(
        "SELECT id::text, name, type, tags, updated_at FROM learning.prompts "
        "WHERE team_id = $1::uuid AND name = $2" + (" FOR UPDATE" if lock else ""),
        team_id,
        name,
    )
    if row is None:
        return None
    return PromptRow(row["id"], row["name"], row["type"], tuple(row["tags"]), row["updated_at"])


async def create_prompt(conn: Connection, team_id: str, name: str, type_: str, tags: Sequence[str]) -> bool:
    """Whether this call created the prompt (a concurrent creator waits here, then finds it)."""
    status = await conn.execute(
        "INSERT INTO learning.prompts (team_id, name, type, tags) VALUES ($1::uuid, $2, $3, $4) "
        "ON CONFLICT (team_id, name) DO NOTHING",
        team_id,
        name,
        type_,
        list(tags),
    )
    return bool(status.endswith(" 1"))


async def touch_prompt(conn: Connection, prompt_id: str, type_: str, tags: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE learning.prompts SET type = $2, tags = $3, updated_at = now() WHERE id = $1::uuid",
        prompt_id,
        type_,
        list(tags),
    )


async def latest(conn: Connection, team_id: str, prompt_id: str) -> VersionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_VERSION_COLUMNS} FROM learning.prompt_versions "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid ORDER BY version DESC LIMIT 1",
        team_id,
        prompt_id,
    )
    return None if row is None else _version(row)


async def insert_version(
    conn: Connection,
    team_id: str,
    prompt_id: str,
    version: int,
    document: PromptDocument,
    content_hash: str,
    author: str,
) -> VersionRow:
    row = await conn.fetchrow(
        "INSERT INTO learning.prompt_versions "
        "(team_id, prompt_id, name, version, document, content_hash, author, commit_message) "
        "VALUES ($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6, $7, $8) "
        f"RETURNING {_VERSION_COLUMNS}",
        team_id,
        prompt_id,
        document.name,
        version,
        document.model_dump(mode="json", exclude_none=True),
        content_hash,
        author,
        document.commit_message,
    )
    for alias, ref in document.includes.items():
        await conn.execute(
            "INSERT INTO learning.prompt_includes "
            "(team_id, prompt_id, version, alias, target_name, target_label, target_version) "
            "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7)",
            team_id,
            prompt_id,
            version,
            alias,
            ref.name,
            ref.label,
            ref.version,
        )
    return _version(row)


async def version(conn: Connection, team_id: str, name: str, number: int) -> VersionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_VERSION_COLUMNS} FROM learning.prompt_versions "
        "WHERE team_id = $1::uuid AND name = $2 AND version = $3",
        team_id,
        name,
        number,
    )
    return None if row is None else _version(row)


async def by_label(conn: Connection, team_id: str, name: str, label: str) -> VersionRow | None:
    """The version a label points at (`latest`: the newest)."""
    if label == LATEST:
        row = await conn.fetchrow(
            f"SELECT {_VERSION_COLUMNS} FROM learning.prompt_versions "
            "WHERE team_id = $1::uuid AND name = $2 ORDER BY version DESC LIMIT 1",
            team_id,
            name,
        )
    else:
        row = await conn.fetchrow(
            f"SELECT {', '.join('v.' + c.strip() for c in _VERSION_COLUMNS.split(','))} "
            "FROM learning.prompt_labels l JOIN learning.prompt_versions v "
            "ON v.prompt_id = l.prompt_id AND v.version = l.version "
            "WHERE l.team_id = $1::uuid AND v.name = $2 AND l.label = $3",
            team_id,
            name,
            label,
        )
    return None if row is None else _version(row)


async def versions(conn: Connection, team_id: str, prompt_id: str) -> list[VersionRow]:
    rows = await conn.fetch(
        f"SELECT {_VERSION_COLUMNS} FROM learning.prompt_versions "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid ORDER BY version DESC",
        team_id,
        prompt_id,
    )
    return [_version(r) for r in rows]


async def authors(conn: Connection, team_id: str, prompt_id: str) -> dict[int, str]:
    rows = await conn.fetch(
        "SELECT version, author FROM learning.prompt_versions "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid",
        team_id,
        prompt_id,
    )
    return {r["version"]: r["author"] for r in rows}


async def labels(conn: Connection, team_id: str, prompt_id: str) -> dict[str, int]:
    """Stored labels (without `latest`) of one prompt."""
    rows = await conn.fetch(
        "SELECT label, version FROM learning.prompt_labels "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND version IS NOT NULL",
        team_id,
        prompt_id,
    )
    return {r["label"]: r["version"] for r in rows}


async def summaries(conn: Connection, team_id: str, tag: str | None) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in await conn.fetch(
            """
            SELECT p.name, p.type, p.tags, p.updated_at, v.version AS latest_version,
                   v.content_hash AS latest_content_hash,
                   coalesce((SELECT jsonb_object_agg(l.label, l.version) FROM learning.prompt_labels l
                             WHERE l.prompt_id = p.id AND l.version IS NOT NULL), '{}'::jsonb) AS labels
            FROM learning.prompts p
            JOIN LATERAL (SELECT version, content_hash FROM learning.prompt_versions
                          WHERE prompt_id = p.id ORDER BY version DESC LIMIT 1) v ON true
            WHERE p.team_id = $1::uuid AND ($2::text IS NULL OR $2 = ANY(p.tags))
            ORDER BY p.name
            """,
            team_id,
            tag,
        )
    ]


async def apply_move(conn: Connection, team_id: str, prompt_id: str, move: Move, moved_by: str) -> bool:
    """Compare-and-set: the label moves only if it is still where the decision saw it."""
    if move.from_version is None:
        status = await conn.execute(
            "INSERT INTO learning.prompt_labels (team_id, prompt_id, label, version, protected, moved_by) "
            "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6) "
            "ON CONFLICT (prompt_id, label) DO UPDATE SET version = EXCLUDED.version, "
            "protected = EXCLUDED.protected, moved_by = EXCLUDED.moved_by, moved_at = now() "
            "WHERE prompt_labels.version IS NULL",
            team_id,
            prompt_id,
            move.label,
            move.to_version,
            move.protected,
            moved_by,
        )
    else:
        status = await conn.execute(
            "UPDATE learning.prompt_labels SET version = $5, protected = $6, moved_by = $7, moved_at = now() "
            "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND label = $3 "
            "AND version IS NOT DISTINCT FROM $4",
            team_id,
            prompt_id,
            move.label,
            move.from_version,
            move.to_version,
            move.protected,
            moved_by,
        )
    if not status.endswith(" 1"):
        return False
    await conn.execute(
        "INSERT INTO learning.prompt_label_moves "
        "(team_id, prompt_id, label, from_version, to_version, rollback, protected, moved_by, approved_by) "
        "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9)",
        team_id,
        prompt_id,
        move.label,
        move.from_version,
        move.to_version,
        move.rollback,
        move.protected,
        moved_by,
        move.approved_by,
    )
    return True


async def approvals(
    conn: Connection, team_id: str, prompt_id: str, number: int
) -> list[tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT approver, permissions FROM learning.prompt_approvals "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND version = $3 ORDER BY approved_at",
        team_id,
        prompt_id,
        number,
    )
    return [(r["approver"], list(r["permissions"])) for r in rows]


async def approve(
    conn: Connection, team_id: str, prompt_id: str, number: int, approver: str, permissions: Sequence[str]
) -> datetime:
    """Record (or keep) an approval; the time it was first given."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        WITH added AS (
            INSERT INTO learning.prompt_approvals (team_id, prompt_id, version, approver, permissions)
            VALUES ($1::uuid, $2::uuid, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING approved_at
        )
        SELECT approved_at FROM added UNION ALL
        SELECT approved_at FROM learning.prompt_approvals
        WHERE prompt_id = $2::uuid AND version = $3 AND approver = $4
        LIMIT 1
        """,
        team_id,
        prompt_id,
        number,
        approver,
        list(permissions),
    )


async def evaluation(conn: Connection, team_id: str, prompt_id: str, number: int) -> tuple[str, bool] | None:
    """The newest finished evaluation run of a version: (run id, passed); None: never evaluated (a
    run still going or one that could not finish is no outcome)."""
    row = await conn.fetchrow(
        "SELECT id::text, passed FROM learning.prompt_evaluations "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND version = $3 AND status = 'finished' "
        "ORDER BY finished_at DESC, started_at DESC LIMIT 1",
        team_id,
        prompt_id,
        number,
    )
    return None if row is None else (row["id"], bool(row["passed"]))


async def policy(conn: Connection, team_id: str) -> LabelPolicy:
    row = await conn.fetchrow(
        "SELECT protected_labels, require_second_approver, require_passing_evaluation "
        "FROM learning.prompt_policies WHERE team_id = $1::uuid",
        team_id,
    )
    if row is None:
        return LabelPolicy()
    return LabelPolicy(
        frozenset(row["protected_labels"]), row["require_second_approver"], row["require_passing_evaluation"]
    )


async def set_policy(conn: Connection, team_id: str, policy: LabelPolicy) -> None:
    await conn.execute(
        "INSERT INTO learning.prompt_policies "
        "(team_id, protected_labels, require_second_approver, require_passing_evaluation) "
        "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (team_id) DO UPDATE SET "
        "protected_labels = EXCLUDED.protected_labels, "
        "require_second_approver = EXCLUDED.require_second_approver, "
        "require_passing_evaluation = EXCLUDED.require_passing_evaluation, updated_at = now()",
        team_id,
        sorted(policy.protected),
        policy.require_second_approver,
        policy.require_passing_evaluation,
    )


async def config_schema(conn: Connection, team_id: str) -> dict[str, Any] | None:
    """The team's config schema, or None when it declared none."""
    found = await conn.fetchval(
        "SELECT config_schema FROM learning.prompt_config_schemas WHERE team_id = $1::uuid", team_id
    )
    return None if found is None else dict(found)


async def set_config_schema(
    conn: Connection, team_id: str, schema: dict[str, Any] | None, author: str
) -> None:
    if schema is None:
        await conn.execute("DELETE FROM learning.prompt_config_schemas WHERE team_id = $1::uuid", team_id)
        return
    await conn.execute(
        "INSERT INTO learning.prompt_config_schemas (team_id, config_schema, updated_by) "
        "VALUES ($1::uuid, $2, $3) ON CONFLICT (team_id) DO UPDATE SET "
        "config_schema = EXCLUDED.config_schema, updated_by = EXCLUDED.updated_by, updated_at = now()",
        team_id,
        schema,
        author,
    )


async def include_edges(conn: Connection, team_id: str) -> list[dict[str, Any]]:
    """Every include of every version of the team's prompts (the impact of a label move)."""
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT v.name, i.version, i.target_name, i.target_label, i.target_version "
            "FROM learning.prompt_includes i JOIN learning.prompt_versions v "
            "ON v.prompt_id = i.prompt_id AND v.version = i.version WHERE i.team_id = $1::uuid",
            team_id,
        )
    ]


async def all_labels(conn: Connection, team_id: str) -> dict[str, dict[str, int]]:
    """label -> version (with `latest`) of every prompt of the team, by name."""
    found: dict[str, dict[str, int]] = {}
    for row in await conn.fetch(
        "SELECT p.name, max(v.version) AS latest FROM learning.prompts p "
        "JOIN learning.prompt_versions v ON v.prompt_id = p.id WHERE p.team_id = $1::uuid GROUP BY p.name",
        team_id,
    ):
        found.setdefault(row["name"], {})[LATEST] = row["latest"]
    for row in await conn.fetch(
        "SELECT p.name, l.label, l.version FROM learning.prompt_labels l "
        "JOIN learning.prompts p ON p.id = l.prompt_id WHERE l.team_id = $1::uuid AND l.version IS NOT NULL",
        team_id,
    ):
        found.setdefault(row["name"], {})[row["label"]] = row["version"]
    return found


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """Everything of the teams (prompts cascade to versions, includes, labels, approvals, moves)."""
    total = 0
    for table in (
        "prompt_evaluations",
        "prompt_approvals",
        "prompt_includes",
        "prompt_policies",
        "prompt_config_schemas",
        "prompts",
    ):
        status = await conn.execute(
            f"DELETE FROM learning.{table} WHERE team_id = ANY($1::uuid[])", list(team_ids)
        )
        total += int(status.split()[-1])
    return total
