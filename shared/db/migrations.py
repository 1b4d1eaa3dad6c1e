"""Forward-only SQL migrations, one PostgreSQL schema per agent.

Layout: ``<directory>/<schema>/NNNN_description.sql``. Each file runs once, in its own
transaction, with ``search_path`` set to its schema, and is recorded with a checksum in
``<schema>.schema_migrations``. Statements that cannot run inside a transaction
(``CREATE INDEX CONCURRENTLY``) are therefore not supported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import asyncpg

from database import POSTGRES_MIGRATIONS
from shared.db.identifiers import is_valid_schema_name, quoted_schema

# What migrate() accepts: a pool, a plain connection, or one acquired from a pool.
PoolOrConnection: TypeAlias = asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """A migration could not be applied, or the recorded history disagrees with the files."""


@dataclass(frozen=True)
class Migration:
    schema: str
    version: int
    name: str
    path: Path
    sql: str
    checksum: str


@dataclass(frozen=True)
class SchemaStatus:
    applied: list[int]
    pending: list[int]
    # Applied versions whose file has been edited since; migrate() refuses to run on these.
    changed: list[int]


def default_migrations_directory() -> Path:
    """``database/postgres`` of the repository this module is part of."""
    return POSTGRES_MIGRATIONS


def discover_schemas(directory: Path | None = None) -> list[str]:
    """Names of the schema folders under `directory`, sorted."""
    root = directory or default_migrations_directory()
    schemas = []
    for entry in sorted(root.iterdir()):
        # Skip tool folders such as __pycache__ or .something.
        if not entry.is_dir() or entry.name.startswith((".", "_")):
            continue
        if not is_valid_schema_name(entry.name):
            raise MigrationError(f"{entry}: folder name is not a valid schema name")
        schemas.append(entry.name)
    return schemas


def discover_migrations(schema: str, directory: Path | None = None) -> list[Migration]:
    """The migration files of `schema`, ordered by version."""
    quoted_schema(schema)  # validates
    folder = (directory or default_migrations_directory()) / schema
    if not folder.is_dir():
        raise MigrationError(f"no migrations folder for schema {schema!r}: {folder}")
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_FILE.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path}: file name must look like 0001_lower_case_description.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"{path}: version {version} is also used by {migrations[version].path.name}")
        # Normalise line endings so a Windows checkout does not look like an edited file.
        sql = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
        migrations[version] = Migration(
            schema=schema,
            version=version,
            name=match["name"],
            path=path,
            sql=sql,
            checksum=hashlib.sha256(sql.encode("utf-8")).hexdigest(),
        )
    return [migrations[version] for version in sorted(migrations)]


async def migrate(pool_or_conn: PoolOrConnection, schema: str, directory: Path | None = None) -> list[int]:
    """Apply the pending migrations of `schema`; return the versions applied by this call.

    Safe to run from several replicas at once: every transaction takes an advisory lock
    keyed by the schema, and each file is re-checked under that lock before it runs.
    """
    migrations = discover_migrations(schema, directory)
    applied_now: list[int] = []
    async with _connection(pool_or_conn) as connection:
        async with connection.transaction():
            await _lock(connection, schema)
            await _create_history_table(connection, schema)
            recorded = await _recorded_checksums(connection, schema)
        _raise_on_changed_files(migrations, recorded)

        for migration in migrations:
            if migration.version in recorded:
                continue
            if await _apply(connection, migration):
                applied_now.append(migration.version)
    return applied_now


async def migrate_all(pool: PoolOrConnection, directory: Path | None = None) -> dict[str, list[int]]:
    """Run `migrate` for every schema folder; return the versions applied per schema."""
    return {schema: await migrate(pool, schema, directory) for schema in discover_schemas(directory)}


async def status(pool: PoolOrConnection, directory: Path | None = None) -> dict[str, SchemaStatus]:
    """Applied, pending and edited-after-apply versions for every schema folder."""
    result: dict[str, SchemaStatus] = {}
    async with _connection(pool) as connection:
        for schema in discover_schemas(directory):
            migrations = discover_migrations(schema, directory)
            recorded = await _recorded_checksums_if_any(connection, schema)
            result[schema] = SchemaStatus(
                applied=sorted(recorded),
                pending=[m.version for m in migrations if m.version not in recorded],
                changed=[
                    m.version
                    for m in migrations
                    if m.version in recorded and recorded[m.version] != m.checksum
                ],
            )
    return result


async def _apply(connection: asyncpg.Connection, migration: Migration) -> bool:
    """Run one file and record it; False if another replica applied it while we waited."""
    schema = quoted_schema(migration.schema)
    try:
        async with connection.transaction():
            await _lock(connection, migration.schema)
            recorded = await _recorded_checksums(connection, migration.schema)
            if migration.version in recorded:
                _raise_on_changed_files([migration], recorded)
                return False
            await connection.execute(f"SET LOCAL search_path TO {schema}")
            # No arguments: asyncpg uses the simple query protocol, which allows many statements.
            await connection.execute(migration.sql)
            await connection.execute(
                f"INSERT INTO {schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as error:
        raise MigrationError(
            f"{migration.path} failed and was rolled back: {type(error).__name__} [{error.sqlstate}]: {error}"
        ) from error
    return True


async def _lock(connection: asyncpg.Connection, schema: str) -> None:
    # Transaction-scoped, so a crashed migrator can never leave the lock held.
    await connection.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))


def _lock_key(schema: str) -> int:
    digest = hashlib.sha256(f"mno.migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _create_history_table(connection: asyncpg.Connection, schema: str) -> None:
    quoted = quoted_schema(schema)
    await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    await connection.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def _recorded_checksums(connection: asyncpg.Connection, schema: str) -> dict[int, str]:
    rows = await connection.fetch(f"SELECT version, checksum FROM {quoted_schema(schema)}.schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def _recorded_checksums_if_any(connection: asyncpg.Connection, schema: str) -> dict[int, str]:
    table = f"{quoted_schema(schema)}.schema_migrations"
    if await connection.fetchval("SELECT to_regclass($1)", table) is None:
        return {}
    return await _recorded_checksums(connection, schema)


def _raise_on_changed_files(migrations: list[Migration], recorded: dict[int, str]) -> None:
    # Applied versions without a file are tolerated: during a rolling deploy, replicas of the
    # previous release see the new release's migrations and must keep running.
    for migration in migrations:
        checksum = recorded.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"{migration.path} was edited after it was applied to schema {migration.schema!r} "
                f"(recorded checksum {checksum[:12]}, file now {migration.checksum[:12]}); "
                "add a new migration instead of changing an applied one"
            )


@asynccontextmanager
async def _connection(pool_or_conn: PoolOrConnection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as connection:
            yield connection
    else:
        yield pool_or_conn
