"""The registry's rows in PostgreSQL (schema `artifact_manager`), every query scoped by team.

One exception, named where it is: whether a blob is still referenced is asked across teams, since
the blob store is content-addressed and shared (the same bytes published by two teams are one blob).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.registry.ecosystems.interface import FileExists
from shared.db.inbox import Connection
from shared.messages.artifacts import Dependency, Ecosystem, FileInfo

S = "artifact_manager"


@dataclass(frozen=True, slots=True)
class PackageRow:
    id: int
    ecosystem: Ecosystem
    name: str
    display_name: str
    latest: str | None
    stable: str | None
    summary: str | None
    license: str | None
    keywords: list[str]
    downloads: int
    updated_at: datetime
    versions: int
    # The SPDX ids of the shown version's licence (licenses.py); None until normalised.
    license_ids: list[str] | None = None


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    package_id: int
    version: str
    prerelease: bool
    metadata: dict[str, Any]
    yanked: bool
    yanked_reason: str | None
    published_at: datetime
    published_by: str | None
    # The SPDX ids its licence names (licenses.py); None for a row not normalised yet.
    license_ids: list[str] | None = None


def _json(value: Any) -> Any:
    """A json/jsonb column as the pool's codec decodes it (shared/db/postgres.py); rows written as
    JSON text inside a jsonb string before the codec was relied on decode once more."""
    return json.loads(value) if isinstance(value, str) else value


def _package(row: Any) -> PackageRow:
    return PackageRow(
        id=row["id"],
        ecosystem=Ecosystem(row["ecosystem"]),
        name=row["name"],
        display_name=row["display_name"],
        latest=row["latest_version"],
        stable=row["stable_version"],
        summary=row["summary"],
        license=row["license"],
        keywords=list(row["keywords"]),
        downloads=row["downloads"],
        updated_at=row["updated_at"],
        versions=row["version_count"],
        license_ids=_ids(row["license_ids"]),
    )


def _ids(value: Any) -> list[str] | None:
    return list(value) if value is not None else None


def _version(row: Any) -> VersionRow:
    return VersionRow(
        id=row["id"],
        package_id=row["package_id"],
        version=row["version"],
        prerelease=row["prerelease"],
        metadata=_json(row["metadata"]),
        yanked=row["yanked"],
        yanked_reason=row["yanked_reason"],
        published_at=row["published_at"],
        published_by=row["published_by"],
        license_ids=_ids(row["license_ids"]),
    )


def file_info(row: Any) -> FileInfo:
    return FileInfo(
        filename=row["filename"],
        size=row["size"],
        sha256=row["sha256"],
        digests=_json(row["digests"]),
        kind=row["kind"],
        requires_python=row["requires_python"],
        uploaded_at=row["uploaded_at"],
        uploaded_by=row["uploaded_by"],
        core_metadata_sha256=row["core_metadata_sha256"],
        downloads=row["downloads"],
    )


_PACKAGE_COLUMNS = f"""
    p.id, p.ecosystem, p.name, p.display_name, p.latest_version, p.stable_version, p.summary,
    p.license, p.keywords, p.downloads, p.updated_at, p.license_ids,
    (SELECT count(*) FROM {S}.versions v WHERE v.package_id = p.id) AS version_count
"""


async def lock_package(conn: Connection, team_id: str, ecosystem: Ecosystem, name: str) -> None:
    """Serialises writers of one package (its derived latest/stable and search document)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"registry:{team_id}:{ecosystem}:{name}"
    )


async def lock_blob(conn: Connection, sha256: str) -> None:
    """Serialises a blob's last reference going away with a new one arriving (content-addressed)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"registry-blob:{sha256}")


async def lock_publish(
    conn: Connection, account_id: str | None, team_id: str, ecosystem: Ecosystem, name: str, sha256: str
) -> None:
    """A publish's locks in one round trip, in the order every writer takes them: the account's (when
    a plan quota is checked: two publishes cannot both fit in the last bytes of its plan), the
    package's (`lock_package`) and the bytes' (`lock_blob`)."""
    keys = [f"registry:{team_id}:{ecosystem}:{name}", f"registry-blob:{sha256}"]
    if account_id is not None:
        keys.insert(0, f"registry-account:{account_id}")
    # One select list, evaluated left to right: the locks are taken in the keys' order.
    locks = ", ".join(f"pg_advisory_xact_lock(hashtextextended(${n}, 0))" for n in range(1, len(keys) + 1))
    await conn.execute(f"SELECT {locks}", *keys)


async def storage_used(conn: Connection, team_ids: Sequence[str]) -> int:
    """Bytes of the files these teams have published (an account's teams)."""
    used = await conn.fetchval(
        f"SELECT coalesce(sum(size), 0) FROM {S}.files WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(used)


async def get_package(conn: Connection, team_id: str, ecosystem: Ecosystem, name: str) -> PackageRow | None:
    row = await conn.fetchrow(
        f"SELECT {_PACKAGE_COLUMNS} FROM {S}.packages p "
        "WHERE p.team_id = $1::uuid AND p.ecosystem = $2 AND p.name = $3",
        team_id,
        ecosystem.value,
        name,
    )
    return _package(row) if row is not None else None


async def ensure_package(
    conn: Connection, team_id: str, ecosystem: Ecosystem, name: str, display_name: str
) -> int:
    """The package's row, created on its first publish; the name is recorded as the team's for good
    (`published_names`: a deleted package's name never reaches the upstream, upstream_store.py)."""
    package_id: int = await conn.fetchval(
        f"""
        WITH named AS (
            INSERT INTO {S}.published_names (team_id, ecosystem, name) VALUES ($1::uuid, $2, $3)
            ON CONFLICT DO NOTHING
        )
        INSERT INTO {S}.packages (team_id, ecosystem, name, display_name) VALUES ($1::uuid, $2, $3, $4)
        ON CONFLICT (team_id, ecosystem, name) DO UPDATE SET updated_at = now()
        RETURNING id
        """,
        team_id,
        ecosystem.value,
        name,
        display_name,
    )
    return package_id


async def get_version(conn: Connection, team_id: str, package_id: int, version: str) -> VersionRow | None:
    row = await conn.fetchrow(
        f"SELECT * FROM {S}.versions WHERE team_id = $1::uuid AND package_id = $2 AND version = $3",
        team_id,
        package_id,
        version,
    )
    return _version(row) if row is not None else None


async def list_versions(conn: Connection, team_id: str, package_id: int) -> list[VersionRow]:
    rows = await conn.fetch(
        f"SELECT * FROM {S}.versions WHERE team_id = $1::uuid AND package_id = $2", team_id, package_id
    )
    return [_version(r) for r in rows]


async def insert_version(
    conn: Connection,
    team_id: str,
    package_id: int,
    version: str,
    *,
    prerelease: bool,
    metadata: dict[str, Any],
    published_by: str | None,
    license_ids: Sequence[str] = (),
) -> VersionRow:
    row = await conn.fetchrow(
        f"""
        INSERT INTO {S}.versions
            (team_id, package_id, version, prerelease, metadata, published_by, license_ids)
        VALUES ($1::uuid, $2, $3, $4, $5::jsonb, $6, $7::text[]) RETURNING *
        """,
        team_id,
        package_id,
        version,
        prerelease,
        metadata,
        published_by,
        list(license_ids),
    )
    return _version(row)


async def replace_version_metadata(
    conn: Connection,
    team_id: str,
    version_id: int,
    ecosystem: Ecosystem,
    *,
    metadata: dict[str, Any],
    license_ids: Sequence[str],
    dependencies: Sequence[Dependency],
) -> VersionRow:
    """A version's metadata, licence ids and dependencies replaced by another file's (a Python
    version's first wheel after its sdist: what installers read, where the sdist may have left
    fields to build time)."""
    await conn.execute(
        f"DELETE FROM {S}.dependencies WHERE team_id = $1::uuid AND version_id = $2", team_id, version_id
    )
    await insert_dependencies(conn, team_id, ecosystem, version_id, dependencies)
    row = await conn.fetchrow(
        f"""
        UPDATE {S}.versions SET metadata = $3::jsonb, license_ids = $4::text[]
        WHERE team_id = $1::uuid AND id = $2 RETURNING *
        """,
        team_id,
        version_id,
        metadata,
        list(license_ids),
    )
    return _version(row)


async def insert_dependencies(
    conn: Connection, team_id: str, ecosystem: Ecosystem, version_id: int, dependencies: Sequence[Dependency]
) -> None:
    await conn.executemany(
        f"""
        INSERT INTO {S}.dependencies (version_id, team_id, ecosystem, name, requirement, kind, extra, marker)
        VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8)
        """,
        [
            (version_id, team_id, ecosystem.value, d.name, d.requirement, d.kind.value, d.extra, d.marker)
            for d in dependencies
        ],
    )


async def version_dependencies(conn: Connection, team_id: str, version_id: int) -> list[Dependency]:
    rows = await conn.fetch(
        f"SELECT * FROM {S}.dependencies WHERE team_id = $1::uuid AND version_id = $2 ORDER BY name",
        team_id,
        version_id,
    )
    return [
        Dependency(
            name=r["name"], requirement=r["requirement"], kind=r["kind"], extra=r["extra"], marker=r["marker"]
        )
        for r in rows
    ]


async def insert_file(
    conn: Connection, team_id: str, ecosystem: Ecosystem, version_id: int, file: FileInfo
) -> FileInfo:
    """Records a published file; `FileExists` if the name was ever published in this team (even if
    since deleted: a name never comes back with other bytes)."""
    claimed = await conn.fetchval(
        f"""
        INSERT INTO {S}.published_filenames (team_id, ecosystem, filename, sha256)
        VALUES ($1::uuid, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true
        """,
        team_id,
        ecosystem.value,
        file.filename,
        file.sha256,
    )
    if not claimed:
        raise FileExists(f"{file.filename} was already published; a published file cannot be replaced")
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO {S}.files (team_id, version_id, ecosystem, filename, sha256, size, digests, kind,
                                   requires_python, core_metadata_sha256, uploaded_by)
            VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11) RETURNING *
            """,
            team_id,
            version_id,
            ecosystem.value,
            file.filename,
            file.sha256,
            file.size,
            file.digests,
            file.kind,
            file.requires_python,
            file.core_metadata_sha256,
            file.uploaded_by,
        )
    except asyncpg.UniqueViolationError:
        raise FileExists(f"{file.filename} already exists") from None
    return file_info(row)


async def version_files(conn: Connection, team_id: str, version_id: int) -> list[FileInfo]:
    rows = await conn.fetch(
        f"SELECT * FROM {S}.files WHERE team_id = $1::uuid AND version_id = $2 ORDER BY filename",
        team_id,
        version_id,
    )
    return [file_info(r) for r in rows]


async def refresh_package(
    conn: Connection,
    package_id: int,
    *,
    display_name: str,
    latest: str | None,
    stable: str | None,
    summary: str | None,
    license: str | None,
    keywords: Sequence[str],
    description: str | None,
    license_ids: Sequence[str] | None = None,
) -> None:
    """The package's derived columns and search document, from its (new) latest version."""
    await conn.execute(
        f"""
        UPDATE {S}.packages SET
            display_name = $2, latest_version = $3, stable_version = $4, summary = $5, license = $6,
            keywords = $7::text[], license_ids = $9::text[], updated_at = now(),
            search_document =
                setweight(to_tsvector('simple', name || ' ' || replace(replace(name, '-', ' '), '_', ' ')
                                                || ' ' || $2), 'A')
                || setweight(to_tsvector('simple', array_to_string($7::text[], ' ') || ' '
                                                    || coalesce($5, '')), 'B')
                || setweight(to_tsvector('simple', left(coalesce($8, ''), 100000)), 'C')
        WHERE id = $1
        """,
        package_id,
        display_name,
        latest,
        stable,
        summary,
        license,
        list(keywords),
        description,
        list(license_ids) if license_ids is not None else None,
    )


async def set_yanked(
    conn: Connection, team_id: str, version_id: int, yanked: bool, reason: str | None
) -> None:
    await conn.execute(
        f"UPDATE {S}.versions SET yanked = $3, yanked_reason = $4 WHERE team_id = $1::uuid AND id = $2",
        team_id,
        version_id,
        yanked,
        reason if yanked else None,
    )


async def delete_version(conn: Connection, team_id: str, version_id: int) -> list[FileInfo]:
    """Deletes the version with its files and dependencies; returns the files (their blobs may go)."""
    rows = await conn.fetch(
        f"DELETE FROM {S}.files WHERE team_id = $1::uuid AND version_id = $2 RETURNING *", team_id, version_id
    )
    await conn.execute(f"DELETE FROM {S}.versions WHERE team_id = $1::uuid AND id = $2", team_id, version_id)
    return [file_info(r) for r in rows]


async def dependents(conn: Connection, team_id: str, ecosystem: Ecosystem, name: str, package_id: int) -> int:
    """Other packages of the team with a version declaring a (non-dev) dependency on `name` (normalised)."""
    count: int = await conn.fetchval(
        f"""
        SELECT count(DISTINCT v.package_id) FROM {S}.dependencies d
        JOIN {S}.versions v ON v.id = d.version_id AND v.team_id = $1::uuid
        WHERE d.team_id = $1::uuid AND d.ecosystem = $2 AND d.name = $3 AND d.kind <> 'dev'
          AND v.package_id <> $4
        """,
        team_id,
        ecosystem.value,
        name,
        package_id,
    )
    return count


async def delete_package(conn: Connection, team_id: str, package_id: int) -> None:
    await conn.execute(f"DELETE FROM {S}.packages WHERE team_id = $1::uuid AND id = $2", team_id, package_id)


# The SupplyChainAgent's blobs (generated documents, envelopes) share the store: its schema publishes
# the digests its rows hold as this view (database/postgres/supply_chain/0004_blob_references.sql).
SUPPLY_CHAIN_BLOB_REFERENCES = "supply_chain.blob_references"

# Every registry row naming a blob (of any team: blobs are shared by content), as the file itself,
# its core metadata, a file cached from an upstream, or a large upstream document (upstream_store.py).
_REGISTRY_BLOB_COLUMNS = (
    ("files", "sha256"),
    ("files", "core_metadata_sha256"),
    ("upstream_files", "sha256"),
    ("upstream_documents", "sha256"),
)


async def supply_chain_references_known(conn: Connection) -> bool:
    """Whether the SupplyChainAgent's blob references can be read (its schema is migrated)."""
    found = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", SUPPLY_CHAIN_BLOB_REFERENCES)
    return bool(found)


async def blob_referenced(conn: Connection, sha256: str) -> bool:
    """Whether any row still uses the blob: a registry row of any team, or (when its schema is
    there) the SupplyChainAgent's. The one query not scoped by team; it answers only yes or no."""
    return bool(await referenced_blobs(conn, [sha256]))


async def referenced_blobs(conn: Connection, digests: Sequence[str]) -> set[str]:
    """Those of `digests` some row uses (see `blob_referenced`), asked in one query."""
    sources = [f"SELECT {column} AS sha256 FROM {S}.{table}" for table, column in _REGISTRY_BLOB_COLUMNS]
    if await supply_chain_references_known(conn):
        sources.append(f"SELECT sha256 FROM {SUPPLY_CHAIN_BLOB_REFERENCES}")
    rows = await conn.fetch(
        "SELECT DISTINCT d.sha256 FROM unnest($1::text[]) AS d(sha256) WHERE "
        + " OR ".join(f"EXISTS (SELECT 1 FROM ({source}) r WHERE r.sha256 = d.sha256)" for source in sources),
        list(digests),
    )
    return {r["sha256"] for r in rows}


async def projects(conn: Connection, team_id: str, ecosystem: Ecosystem) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        f"SELECT name, display_name FROM {S}.packages WHERE team_id = $1::uuid AND ecosystem = $2 "
        "ORDER BY name",
        team_id,
        ecosystem.value,
    )
    return [(r["name"], r["display_name"]) for r in rows]


async def package_files(conn: Connection, team_id: str, package_id: int) -> list[tuple[VersionRow, FileInfo]]:
    rows = await conn.fetch(
        f"""
        SELECT v.id AS v_id, v.package_id, v.version, v.prerelease, v.metadata, v.yanked, v.yanked_reason,
               v.published_at, v.published_by, v.license_ids, f.*
        FROM {S}.files f JOIN {S}.versions v ON v.id = f.version_id
        WHERE f.team_id = $1::uuid AND v.team_id = $1::uuid AND v.package_id = $2
        ORDER BY f.filename
        """,
        team_id,
        package_id,
    )
    result = []
    for r in rows:
        version = VersionRow(
            id=r["v_id"],
            package_id=r["package_id"],
            version=r["version"],
            prerelease=r["prerelease"],
            metadata={},
            yanked=r["yanked"],
            yanked_reason=r["yanked_reason"],
            published_at=r["published_at"],
            published_by=r["published_by"],
            license_ids=_ids(r["license_ids"]),
        )
        result.append((version, file_info(r)))
    return result


@dataclass(frozen=True, slots=True)
class ResolvedFile:
    """A team's file as a download finds it: the row, whether its version is blocked by the team's
    download policy (with the findings that block it), and whether this download was counted."""

    id: int
    file: FileInfo
    package: str
    version: str
    blocked_findings: list[dict[str, Any]] | None
    counted: bool


async def resolve_file(
    conn: Connection,
    team_id: str,
    ecosystem: Ecosystem,
    filename: str,
    *,
    sha256: str | None = None,
    count: bool = True,
) -> ResolvedFile | None:
    """One statement for a download: the file, its version's block (download_policy.py: the
    SupplyChainAgent's decisions as announced) and, when `count` and the file is the one asked for
    (`sha256`, when given, matches) and not blocked, its download counted on the file and its
    package. None when the team has no file of that name."""
    row = await conn.fetchrow(
        f"""
        WITH found AS (
            SELECT f.*, v.package_id, p.name AS package_name, v.version AS version_text,
                   b.findings AS blocked_findings
            FROM {S}.files f
            JOIN {S}.versions v ON v.id = f.version_id
            JOIN {S}.packages p ON p.id = v.package_id
            LEFT JOIN {S}.blocked_versions b ON b.team_id = f.team_id AND b.ecosystem = p.ecosystem
                AND b.name = p.name AND b.version = v.version AND b.blocked
            WHERE f.team_id = $1::uuid AND f.ecosystem = $2 AND f.filename = $3
        ), counted AS (
            UPDATE {S}.files t SET downloads = t.downloads + 1 FROM found
            WHERE $4 AND t.id = found.id AND found.blocked_findings IS NULL
                AND ($5::text IS NULL OR found.sha256 = $5)
            RETURNING found.package_id
        ), package AS (
            UPDATE {S}.packages p SET downloads = p.downloads + 1 FROM counted
            WHERE p.id = counted.package_id
        )
        SELECT found.*, EXISTS (SELECT 1 FROM counted) AS counted FROM found
        """,
        team_id,
        ecosystem.value,
        filename,
        count,
        sha256,
    )
    if row is None:
        return None
    return ResolvedFile(
        id=row["id"],
        file=file_info(row),
        package=row["package_name"],
        version=row["version_text"],
        blocked_findings=_json(row["blocked_findings"]) if row["blocked_findings"] is not None else None,
        counted=row["counted"],
    )


# The consumer name under which batches of downloads counted at the edges are claimed (the inbox).
DOWNLOADS_CONSUMER = "downloads-counted"


async def add_downloads(conn: Connection, message_id: str, counts: Sequence[tuple[str, int, int]]) -> bool:
    """Add a batch of (team, file, downloads) to the files and their packages, once per `message_id`:
    the claim (`processed_messages`, as `shared.db.inbox.claim` writes it) and the additions are one
    statement, so a redelivered batch adds nothing. A file deleted since is skipped. True when the
    batch was applied now."""
    applied = await conn.fetchval(
        f"""
        WITH claimed AS (
            INSERT INTO {S}.processed_messages (consumer, message_id) VALUES ($1, $2)
            ON CONFLICT DO NOTHING RETURNING true
        ), batch AS (
            SELECT c.team_id, c.file_id, sum(c.n)::bigint AS n
            FROM unnest($3::uuid[], $4::bigint[], $5::bigint[]) AS c(team_id, file_id, n)
            WHERE EXISTS (SELECT 1 FROM claimed)
            GROUP BY c.team_id, c.file_id
        ), touched AS (
            UPDATE {S}.files f SET downloads = f.downloads + batch.n FROM batch
            WHERE f.team_id = batch.team_id AND f.id = batch.file_id
            RETURNING f.version_id, batch.n
        ), by_package AS (
            SELECT v.package_id, sum(touched.n) AS n
            FROM touched JOIN {S}.versions v ON v.id = touched.version_id GROUP BY v.package_id
        ), packages AS (
            UPDATE {S}.packages p SET downloads = p.downloads + by_package.n FROM by_package
            WHERE p.id = by_package.package_id
        )
        SELECT EXISTS (SELECT 1 FROM claimed)
        """,
        DOWNLOADS_CONSUMER,
        message_id,
        [team for team, _, _ in counts],
        [file_id for _, file_id, _ in counts],
        [n for _, _, n in counts],
    )
    return bool(applied)


async def prune_download_claims(conn: Connection, older_than_seconds: float) -> int:
    """Forget claims of download batches older than any redelivery (JetStream redelivers an unacked
    message within ack_wait x max_deliver; its duplicate window is shorter still)."""
    status: str = await conn.execute(
        f"DELETE FROM {S}.processed_messages WHERE consumer = $1 "
        "AND processed_at < now() - make_interval(secs => $2)",
        DOWNLOADS_CONSUMER,
        older_than_seconds,
    )
    return int(status.rsplit(" ", 1)[1])


# Beyond this many matches `total` is the planner's estimate: an exact count would read every match.
SEARCH_COUNT_CAP = 1000


async def search(
    conn: Connection,
    team_id: str,
    *,
    query: str | None,
    tsquery: str | None,
    name_tsquery: str | None,
    ecosystem: Ecosystem | None,
    license: str | None,
    depends_on: Sequence[str] | None,
    limit: int,
    offset: int,
    license_alternatives: Sequence[frozenset[str]] | None = None,
) -> tuple[list[PackageRow], int, bool]:
    """Packages matching the filters, best match first (then by name); how many match; and whether
    that count is an estimate (more than SEARCH_COUNT_CAP match).

    Order: an exact name, then every word in the name (`name_tsquery`, weight A), then other head
    matches (keywords, summary), by ts_rank_cd within each; then description-only matches by name.
    Only head matches are ranked: each half is cut to the page's end before the two are merged."""
    where = ["p.team_id = $1::uuid"]
    args: list[Any] = [team_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    q = arg(tsquery) if tsquery is not None else None
    if q is not None:
        where.append(f"p.search_document @@ to_tsquery('simple', {q})")
    if ecosystem is not None:
        where.append(f"p.ecosystem = {arg(ecosystem.value)}")
    if license_alternatives is not None:
        # A package matches when its ids hold every id of one alternative (licenses.license_filter),
        # each a containment the GIN index answers; a package not normalised yet by its licence text.
        held = " OR ".join(f"p.license_ids @> {arg(sorted(a))}::text[]" for a in license_alternatives)
        text = f"(p.license_ids IS NULL AND lower(p.license) = lower({arg(license or '')}))"
        where.append(f"({held} OR {text})" if held else text)
    elif license is not None:
        # Not a licence the SPDX list names (`Proprietary`): the licence as written, in any case.
        where.append(f"lower(p.license) = lower({arg(license)})")
    if depends_on is not None:
        where.append(
            f"""EXISTS (SELECT 1 FROM {S}.dependencies d JOIN {S}.versions v ON v.id = d.version_id
                WHERE v.package_id = p.id AND v.version = p.latest_version AND d.team_id = p.team_id
                AND d.name = ANY({arg(list(depends_on))}::text[]))"""
        )
    condition = " AND ".join(where)
    async with conn.transaction():
        # A prepared statement's generic plan (after five runs) cannot see how common the words
        # are and ranked every match again: plan each search for its own values.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        return await _search(conn, condition, args, q, query, name_tsquery, limit, offset)


async def _search(
    conn: Connection,
    condition: str,
    args: list[Any],
    q: str | None,
    query: str | None,
    name_tsquery: str | None,
    limit: int,
    offset: int,
) -> tuple[list[PackageRow], int, bool]:
    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    total, estimated = await _capped_count(conn, condition, list(args))
    if q is None:
        rows = await conn.fetch(
            f"""
            SELECT {_PACKAGE_COLUMNS} FROM {S}.packages p WHERE {condition}
            ORDER BY p.name, p.ecosystem LIMIT {arg(limit)} OFFSET {arg(offset)}
            """,
            *args,
        )
        return [_package(r) for r in rows], total, estimated
    exact = arg(query or "")
    in_name = arg(name_tsquery) if name_tsquery is not None else q
    page_end = arg(offset + limit)
    head = f"p.head_document @@ to_tsquery('simple', {q})"
    rows = await conn.fetch(
        f"""
        SELECT {_PACKAGE_COLUMNS} FROM (
            (SELECT p.id, p.name, p.ecosystem, 0 AS tier,
                (CASE WHEN p.name = {exact} THEN 2000 ELSE 0 END
                 + CASE WHEN p.head_document @@ to_tsquery('simple', {in_name}) THEN 1000 ELSE 0 END
                 + ts_rank_cd(p.head_document, to_tsquery('simple', {q}))) AS rank
             FROM {S}.packages p WHERE {condition} AND {head}
             ORDER BY rank DESC, p.name, p.ecosystem LIMIT {page_end})
            UNION ALL
            (SELECT p.id, p.name, p.ecosystem, 1, 0 FROM {S}.packages p
             WHERE {condition} AND NOT {head}
             ORDER BY p.name, p.ecosystem LIMIT {page_end})
        ) c JOIN {S}.packages p ON p.id = c.id
        ORDER BY c.tier, c.rank DESC, c.name, c.ecosystem LIMIT {arg(limit)} OFFSET {arg(offset)}
        """,
        *args,
    )
    return [_package(r) for r in rows], total, estimated


async def _capped_count(conn: Connection, condition: str, args: list[Any]) -> tuple[int, bool]:
    """The exact number of packages matching, up to SEARCH_COUNT_CAP; beyond it the planner's
    estimate (never below the cap), flagged as such."""
    sql = f"SELECT 1 FROM {S}.packages p WHERE {condition}"
    counted = int(await conn.fetchval(f"SELECT count(*) FROM ({sql} LIMIT {SEARCH_COUNT_CAP + 1}) c", *args))
    if counted <= SEARCH_COUNT_CAP:
        return counted, False
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    return max(estimate, counted), True


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """Deletes every registry row of these teams (a `TeamPurger`); blobs no longer referenced are
    left to the orphan-blob sweep (`blob_sweep.py`: they are content-addressed and may be shared)."""
    deleted = 0
    for table in (
        "npm_versions",
        "npm_packages",
        "npm_unpublished",
        "dependencies",
        "files",
        "versions",
        "packages",
        "published_filenames",
        "published_names",
        "upstream_files",
        "upstream_documents",
        "blocked_versions",
        "download_policies",
        "download_overrides",
        # Its events not yet sent: the SupplyChainAgent purges the team too, and must not hear of them.
        "outbox",
    ):
        status: str = await conn.execute(
            f"DELETE FROM {S}.{table} WHERE team_id = ANY($1::uuid[])", list(team_ids)
        )
        deleted += int(status.rsplit(" ", 1)[1])
    return deleted
