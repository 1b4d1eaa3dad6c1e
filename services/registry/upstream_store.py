"""The rows of files a team's index took from its upstream (migration 0006), and the facts the
dependency-confusion guard reads: whether a name is, or ever was, the team's own. Every query
scoped by team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db.inbox import Connection
from shared.messages.artifacts import Ecosystem

S = "artifact_manager"


@dataclass(frozen=True, slots=True)
class CachedFile:
    sha256: str
    size: int
    upstream_digest: str
    cached_at: datetime  # when the team's index (last) fetched it: the version was upstream then
    version: str


async def name_is_private(conn: Connection, team_id: str, ecosystem: Ecosystem, name: str) -> bool:
    """Whether the team publishes `name` (normalised) or ever did (migration 0009): a deleted
    package's name stays the team's, or the upstream's package of that name would be served in its
    place (dependency confusion). Every ecosystem; npm also asks `npm_name_is_private` (scopes)."""
    private: bool = await conn.fetchval(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM {S}.published_names WHERE team_id = $1::uuid AND ecosystem = $2 AND name = $3
        ) OR EXISTS (
            SELECT 1 FROM {S}.packages WHERE team_id = $1::uuid AND ecosystem = $2 AND name = $3
        )
        """,
        team_id,
        ecosystem.value,
        name,
    )
    return private


async def npm_name_is_private(conn: Connection, team_id: str, name: str) -> bool:
    """Whether the team publishes `name` (or did: an unpublished name stays the team's, or the
    upstream could take it over), or publishes under its scope: a scope the team uses is the
    team's, so no package of it comes from the upstream, however new the name."""
    scope = name.split("/", 1)[0] + "/" if name.startswith("@") and "/" in name else None
    private: bool = await conn.fetchval(
        f"""
        SELECT EXISTS (
            SELECT 1 FROM {S}.packages WHERE team_id = $1::uuid AND ecosystem = $2
            AND (name = $3 OR ($4::text IS NOT NULL AND starts_with(name, $4)))
        ) OR EXISTS (
            SELECT 1 FROM {S}.npm_unpublished WHERE team_id = $1::uuid
            AND (name = $3 OR ($4::text IS NOT NULL AND starts_with(name, $4)))
        ) OR EXISTS (
            SELECT 1 FROM {S}.published_names WHERE team_id = $1::uuid AND ecosystem = $2
            AND (name = $3 OR ($4::text IS NOT NULL AND starts_with(name, $4)))
        )
        """,
        team_id,
        Ecosystem.NPM.value,
        name,
        scope,
    )
    return private


async def cached_file(
    conn: Connection, team_id: str, ecosystem: Ecosystem, upstream: str, name: str, filename: str
) -> CachedFile | None:
    row = await conn.fetchrow(
        f"SELECT sha256, size, upstream_digest, cached_at, version FROM {S}.upstream_files "
        "WHERE team_id = $1::uuid AND ecosystem = $2 AND upstream = $3 AND name = $4 AND filename = $5",
        team_id,
        ecosystem.value,
        upstream,
        name,
        filename,
    )
    if row is None:
        return None
    return CachedFile(row["sha256"], row["size"], row["upstream_digest"], row["cached_at"], row["version"])


async def cached_files(
    conn: Connection, team_id: str, ecosystem: Ecosystem, upstream: str, name: str
) -> dict[str, CachedFile]:
    """The files of a project the team took from the upstream, by file name."""
    rows = await conn.fetch(
        f"SELECT filename, sha256, size, upstream_digest, cached_at, version FROM {S}.upstream_files "
        "WHERE team_id = $1::uuid AND ecosystem = $2 AND upstream = $3 AND name = $4",
        team_id,
        ecosystem.value,
        upstream,
        name,
    )
    return {
        r["filename"]: CachedFile(r["sha256"], r["size"], r["upstream_digest"], r["cached_at"], r["version"])
        for r in rows
    }


async def record_file(
    conn: Connection,
    team_id: str,
    ecosystem: Ecosystem,
    upstream: str,
    *,
    name: str,
    version: str,
    filename: str,
    sha256: str,
    size: int,
    upstream_digest: str,
    announced: bool = False,
) -> None:
    """The team's row of an upstream file; `announced` when the caller writes its
    `upstream_version_fetched` event in the same transaction (upstream_matching.py)."""
    await conn.execute(
        f"""
        INSERT INTO {S}.upstream_files
            (team_id, ecosystem, upstream, name, version, filename, sha256, size, upstream_digest, announced)
        VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (team_id, ecosystem, upstream, name, filename) DO UPDATE
        SET sha256 = excluded.sha256, size = excluded.size, upstream_digest = excluded.upstream_digest,
            cached_at = now()
        """,
        team_id,
        ecosystem.value,
        upstream,
        name,
        version,
        filename,
        sha256,
        size,
        upstream_digest,
        announced,
    )


async def count_download(
    conn: Connection, team_id: str, ecosystem: Ecosystem, upstream: str, name: str, filename: str
) -> None:
    await conn.execute(
        f"UPDATE {S}.upstream_files SET downloads = downloads + 1 "
        "WHERE team_id = $1::uuid AND ecosystem = $2 AND upstream = $3 AND name = $4 AND filename = $5",
        team_id,
        ecosystem.value,
        upstream,
        name,
        filename,
    )


async def replace_document(
    conn: Connection,
    team_id: str,
    ecosystem: Ecosystem,
    upstream: str,
    *,
    name: str,
    form: str,
    sha256: str,
    size: int,
) -> str | None:
    """Records the blob of a rendered document; returns the blob it replaced, if another."""
    previous: str | None = await conn.fetchval(
        f"SELECT sha256 FROM {S}.upstream_documents "
        "WHERE team_id = $1::uuid AND ecosystem = $2 AND upstream = $3 AND name = $4 AND form = $5 "
        "FOR UPDATE",
        team_id,
        ecosystem.value,
        upstream,
        name,
        form,
    )
    await conn.execute(
        f"""
        INSERT INTO {S}.upstream_documents (team_id, ecosystem, upstream, name, form, sha256, size)
        VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (team_id, ecosystem, upstream, name, form) DO UPDATE
        SET sha256 = excluded.sha256, size = excluded.size, stored_at = now()
        """,
        team_id,
        ecosystem.value,
        upstream,
        name,
        form,
        sha256,
        size,
    )
    return previous if previous not in (None, sha256) else None
