"""Numbered `.sql` migrations, applied once each, in order, on either engine.

Files are named `<version>_<description>.sql` (`0003_token_events.sql`) in
`database/clickhouse/`; versions are positive integers and unique. Each file may hold several
statements separated by `;` (see `sql_script.py`). Applied versions are recorded with the
SHA-256 of the file in `schema_migrations`; a later run skips them, and refuses to run at all
if an applied file has changed since — add a new migration instead of editing an old one.

ClickHouse DDL is not transactional: if a statement fails, the statements before it stay
applied and the version is not recorded, so the file runs again from the top next time.
Write migrations idempotently (`CREATE TABLE IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from database import CLICKHOUSE_MIGRATIONS

from .errors import ClickHouseError
from .interface import ClickHouse
from .sql_script import SqlScriptError, split_sql_statements

DEFAULT_MIGRATIONS_DIRECTORY = CLICKHOUSE_MIGRATIONS
MIGRATIONS_TABLE = "schema_migrations"

_FILE_NAME = re.compile(r"(?P<version>\d+)_(?P<description>[A-Za-z0-9_-]+)\.sql")
# ReplacingMergeTree + FINAL: a version recorded twice by racing runners still reads as one row.
_CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(applied_at) ORDER BY version
"""


class MigrationError(ClickHouseError):
    """The migration files or their recorded state are inconsistent."""


class MigrationChecksumError(MigrationError):
    """An already applied migration file was modified."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    checksum: str
    sql: str


def load_migrations(directory: Path) -> list[Migration]:
    """All migrations in `directory`, ordered by version; any other `.sql` file is an error."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory does not exist: {directory}")
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files must be named <version>_<description>.sql")
        version = int(match["version"])
        if version < 1:
            raise MigrationError(f"{path.name}: versions start at 1")
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} also used by {migrations[version].name}")
        content = path.read_bytes()
        migrations[version] = Migration(
            version=version,
            name=path.name,
            checksum=hashlib.sha256(content).hexdigest(),
            sql=content.decode("utf-8"),
        )
    return [migrations[version] for version in sorted(migrations)]


async def apply_migrations(clickhouse: ClickHouse, directory: Path | None = None) -> list[int]:
    """Apply the migrations not yet recorded; returns the versions applied now (empty when up to date)."""
    migrations = load_migrations(directory or DEFAULT_MIGRATIONS_DIRECTORY)
    statements = {migration.version: _statements(migration) for migration in migrations}
    await clickhouse.execute(_CREATE_MIGRATIONS_TABLE)
    applied = await _applied_checksums(clickhouse)
    # Verify everything before changing anything.
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationChecksumError(
                f"{migration.name} was changed after it was applied: recorded sha256 {recorded},"
                f" file now has {migration.checksum}. Revert the file and add a new migration instead."
            )
    pending = [migration for migration in migrations if migration.version not in applied]
    for migration in pending:
        for statement in statements[migration.version]:
            try:
                await clickhouse.execute(statement)
            except ClickHouseError as error:
                raise MigrationError(f"{migration.name} failed: {error}") from error
        await clickhouse.insert(
            MIGRATIONS_TABLE,
            ["version", "name", "checksum", "applied_at"],
            [(migration.version, migration.name, migration.checksum, datetime.now(UTC))],
        )
    return [migration.version for migration in pending]


async def _applied_checksums(clickhouse: ClickHouse) -> dict[int, str]:
    rows = await clickhouse.query(f"SELECT version, checksum FROM {MIGRATIONS_TABLE} FINAL")
    return {int(row["version"]): str(row["checksum"]) for row in rows}


def _statements(migration: Migration) -> list[str]:
    try:
        statements = split_sql_statements(migration.sql)
    except SqlScriptError as error:
        raise MigrationError(f"{migration.name}: {error}") from error
    if not statements:
        raise MigrationError(f"{migration.name} contains no statements")
    return statements
