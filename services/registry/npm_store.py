"""npm's rows beside the ecosystem-neutral ones (schema `artifact_manager`, migration 0003): a
package's dist-tags, readme and revision; a version's manifest, digests and deprecation; the
versions unpublished. Every query scoped by team."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db.inbox import Connection
from shared.messages.artifacts import Ecosystem

S = "artifact_manager"


@dataclass(frozen=True, slots=True)
class NpmPackageState:
    dist_tags: dict[str, str]
    revision: int
    readme: str | None
    readme_filename: str | None
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class NpmVersionState:
    version_id: int
    version: str
    published_at: datetime
    manifest: dict[str, Any]
    integrity: str
    shasum: str
    deprecated: str | None
    file_count: int | None
    unpacked_size: int | None
    filename: str | None  # the tarball's file row (libnpmpublish's name, scope included)
    file_sha256: str | None
    downloads: int


async def package_state(conn: Connection, team_id: str, package_id: int) -> NpmPackageState | None:
    row = await conn.fetchrow(
        f"SELECT * FROM {S}.npm_packages WHERE team_id = $1::uuid AND package_id = $2", team_id, package_id
    )
    if row is None:
        return None
    return NpmPackageState(
        dist_tags=dict(row["dist_tags"]),
        revision=row["revision"],
        readme=row["readme"],
        readme_filename=row["readme_filename"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
    )


async def save_package(
    conn: Connection,
    team_id: str,
    package_id: int,
    *,
    dist_tags: Mapping[str, str],
    readme: str | None = None,
    readme_filename: str | None = None,
    keep_readme: bool = True,
) -> None:
    """Creates or updates the package's npm state, bumping its revision (every change changes `_rev`)."""
    await conn.execute(
        f"""
        INSERT INTO {S}.npm_packages (package_id, team_id, dist_tags, readme, readme_filename)
        VALUES ($1, $2::uuid, $3::jsonb, $4, $5)
        ON CONFLICT (package_id) DO UPDATE SET
            dist_tags = EXCLUDED.dist_tags,
            readme = CASE WHEN $6 THEN coalesce(EXCLUDED.readme, {S}.npm_packages.readme)
                          ELSE EXCLUDED.readme END,
            readme_filename = CASE WHEN $6 THEN coalesce(EXCLUDED.readme_filename,
                                                         {S}.npm_packages.readme_filename)
                                   ELSE EXCLUDED.readme_filename END,
            revision = {S}.npm_packages.revision + 1,
            modified_at = now()
        WHERE {S}.npm_packages.team_id = $2::uuid
        """,
        package_id,
        team_id,
        dict(dist_tags),
        readme,
        readme_filename,
        keep_readme,
    )


async def insert_version(
    conn: Connection,
    team_id: str,
    version_id: int,
    *,
    manifest: Mapping[str, Any],
    integrity: str,
    shasum: str,
    file_count: int,
    unpacked_size: int,
) -> None:
    await conn.execute(
        f"""
        INSERT INTO {S}.npm_versions
            (version_id, team_id, manifest, integrity, shasum, file_count, unpacked_size)
        VALUES ($1, $2::uuid, $3::jsonb, $4, $5, $6, $7)
        """,
        version_id,
        team_id,
        dict(manifest),
        integrity,
        shasum,
        file_count,
        unpacked_size,
    )


async def versions(conn: Connection, team_id: str, package_id: int) -> list[NpmVersionState]:
    rows = await conn.fetch(
        f"""
        SELECT v.id, v.version, v.published_at, n.manifest, n.integrity, n.shasum, n.deprecated,
               n.file_count, n.unpacked_size, f.filename, f.sha256, coalesce(f.downloads, 0) AS downloads
        FROM {S}.versions v
        JOIN {S}.npm_versions n ON n.version_id = v.id AND n.team_id = $1::uuid
        LEFT JOIN {S}.files f ON f.version_id = v.id AND f.team_id = $1::uuid
        WHERE v.team_id = $1::uuid AND v.package_id = $2
        """,
        team_id,
        package_id,
    )
    return [
        NpmVersionState(
            version_id=r["id"],
            version=r["version"],
            published_at=r["published_at"],
            manifest=dict(r["manifest"]),
            integrity=r["integrity"],
            shasum=r["shasum"],
            deprecated=r["deprecated"],
            file_count=r["file_count"],
            unpacked_size=r["unpacked_size"],
            filename=r["filename"],
            file_sha256=r["sha256"],
            downloads=r["downloads"],
        )
        for r in rows
    ]


async def set_deprecated(conn: Connection, team_id: str, version_id: int, message: str | None) -> None:
    """The message in npm's row and in the version's neutral metadata (VersionInfo.deprecated)."""
    await conn.execute(
        f"UPDATE {S}.npm_versions SET deprecated = $3 WHERE team_id = $1::uuid AND version_id = $2",
        team_id,
        version_id,
        message,
    )
    await conn.execute(
        f"""
        UPDATE {S}.versions SET metadata = CASE
            WHEN $3::text IS NULL THEN metadata - 'deprecated'
            ELSE jsonb_set(metadata, '{{deprecated}}', to_jsonb($3::text)) END
        WHERE team_id = $1::uuid AND id = $2
        """,
        team_id,
        version_id,
        message,
    )


async def dependents(conn: Connection, team_id: str, name: str, package_id: int) -> int:
    """Other npm packages of the team with a version declaring a (non-dev) dependency on `name`."""
    count: int = await conn.fetchval(
        f"""
        SELECT count(DISTINCT v.package_id) FROM {S}.dependencies d
        JOIN {S}.versions v ON v.id = d.version_id AND v.team_id = $1::uuid
        WHERE d.team_id = $1::uuid AND d.ecosystem = $2 AND d.name = $3 AND d.kind <> 'dev'
          AND v.package_id <> $4
        """,
        team_id,
        Ecosystem.NPM.value,
        name,
        package_id,
    )
    return count


async def record_unpublished(conn: Connection, team_id: str, name: str, version: str, by: str | None) -> None:
    await conn.execute(
        f"""
        INSERT INTO {S}.npm_unpublished (team_id, name, version, unpublished_by) VALUES ($1::uuid, $2, $3, $4)
        ON CONFLICT DO NOTHING
        """,
        team_id,
        name,
        version,
        by,
    )


async def unpublished_at(conn: Connection, team_id: str, name: str, version: str) -> datetime | None:
    moment: datetime | None = await conn.fetchval(
        f"SELECT unpublished_at FROM {S}.npm_unpublished "
        "WHERE team_id = $1::uuid AND name = $2 AND version = $3",
        team_id,
        name,
        version,
    )
    return moment
