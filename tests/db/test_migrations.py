"""Migration runner against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrations import MigrationError, default_migrations_directory, migrate, migrate_all, status
from shared.db.postgres import create_pool

AGENT_SCHEMAS = ["artifact_manager", "learning", "monitoring", "super_agent", "supply_chain"]


def write_migrations(root: Path, schema: str, files: dict[str, str]) -> Path:
    folder = root / schema
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return root


async def test_migrations_apply_to_all_five_schemas(pool: asyncpg.Pool) -> None:
    """The repository's migrations create inbox and canary tables in every agent schema."""
    applied = await migrate_all(pool)

    for schema in AGENT_SCHEMAS:
        on_disk = sorted(int(f.name[:4]) for f in (default_migrations_directory() / schema).glob("*.sql"))
        assert applied[schema] == on_disk
    rows = await pool.fetch(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1::text[])",
        AGENT_SCHEMAS,
    )
    tables = {(row["table_schema"], row["table_name"]) for row in rows}
    for schema in AGENT_SCHEMAS:
        assert {
            (schema, "processed_messages"),
            (schema, "canary_receipts"),
            (schema, "schema_migrations"),
        } <= tables


async def test_rerun_is_a_no_op(pool: asyncpg.Pool) -> None:
    """A second migrate_all applies nothing and status reports nothing pending."""
    first = await migrate_all(pool)

    assert await migrate_all(pool) == {schema: [] for schema in AGENT_SCHEMAS}
    report = await status(pool, default_migrations_directory())
    assert {schema: (s.applied, s.pending, s.changed) for schema, s in report.items()} == {
        schema: (first[schema], [], []) for schema in AGENT_SCHEMAS
    }


async def test_concurrent_migrate_from_two_pools_applies_each_file_once(
    database_dsn: str, tmp_path: Path
) -> None:
    """Two replicas migrating at the same moment run every file exactly once between them."""
    directory = write_migrations(
        tmp_path,
        "race",
        {
            # The sleep keeps the first transaction open while the other replica queues on the lock.
            "0001_log.sql": (
                "CREATE TABLE runs (version int); SELECT pg_sleep(0.2); INSERT INTO runs VALUES (1);"
            ),
            "0002_second.sql": "SELECT pg_sleep(0.1); INSERT INTO runs VALUES (2);",
            "0003_third.sql": "INSERT INTO runs VALUES (3);",
        },
    )
    pools = [await create_pool(database_dsn, min_size=1, max_size=2, command_timeout=30) for _ in range(2)]
    try:
        first, second = await asyncio.gather(*(migrate(p, "race", directory) for p in pools))
        runs = await pools[0].fetch("SELECT version, count(*) AS times FROM race.runs GROUP BY version")
    finally:
        await asyncio.gather(*(p.close() for p in pools))

    assert sorted(first + second) == [1, 2, 3]
    assert {row["version"]: row["times"] for row in runs} == {1: 1, 2: 1, 3: 1}


async def test_changed_checksum_of_applied_file_is_detected(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """Editing an applied migration makes migrate raise MigrationError naming the file."""
    directory = write_migrations(tmp_path, "edited", {"0001_init.sql": "CREATE TABLE a (id int);"})
    await migrate(pool, "edited", directory)
    (directory / "edited" / "0001_init.sql").write_text("CREATE TABLE a (id bigint);")

    with pytest.raises(MigrationError, match=r"0001_init\.sql"):
        await migrate(pool, "edited", directory)
    assert (await status(pool, directory))["edited"].changed == [1]


async def test_failing_migration_rolls_back_and_names_file(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """A failing file leaves no partial effects or history row and the error names file and cause."""
    directory = write_migrations(
        tmp_path,
        "broken",
        {
            "0001_ok.sql": "CREATE TABLE fine (id int);",
            "0002_bad.sql": "CREATE TABLE half_done (id int); SELECT 1 / 0;",
        },
    )

    with pytest.raises(MigrationError, match=r"0002_bad\.sql.*division by zero"):
        await migrate(pool, "broken", directory)

    assert await pool.fetchval("SELECT to_regclass('broken.half_done')") is None
    assert await pool.fetchval("SELECT to_regclass('broken.fine')") is not None
    report = (await status(pool, directory))["broken"]
    assert (report.applied, report.pending) == ([1], [2])


async def test_migrate_accepts_a_single_connection(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """migrate works on an acquired connection as well as on a pool."""
    directory = write_migrations(tmp_path, "single", {"0001_init.sql": "CREATE TABLE t (id int);"})

    async with pool.acquire() as connection:
        assert await migrate(connection, "single", directory) == [1]


async def test_invalid_file_name_is_rejected(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """A .sql file that does not follow NNNN_description.sql is an error, not silently skipped."""
    directory = write_migrations(tmp_path, "typo", {"1_init.sql": "SELECT 1;"})

    with pytest.raises(MigrationError, match=r"/1_init\.sql"):
        await migrate(pool, "typo", directory)


def test_repository_layout_has_the_five_agent_schemas(tmp_path: Path) -> None:
    """database/postgres holds one folder per agent schema, each starting at 0001."""
    shutil.copytree(default_migrations_directory(), tmp_path / "copy")
    assert sorted(p.name for p in (tmp_path / "copy").iterdir() if p.is_dir()) == AGENT_SCHEMAS
