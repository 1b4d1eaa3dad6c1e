"""Numbered SQL migrations, run against each engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.db.clickhouse import (
    DEFAULT_MIGRATIONS_DIRECTORY,
    ClickHouse,
    MigrationChecksumError,
    MigrationError,
    apply_migrations,
    load_migrations,
)

FIRST = """
-- Token events; the ';' in this comment and in the literal below must not split statements.
CREATE TABLE IF NOT EXISTS events (
    id UInt64,
    note String DEFAULT 'a;b'
) ENGINE = MergeTree ORDER BY id;

INSERT INTO events (id) VALUES (1);
"""
SECOND = "ALTER TABLE events ADD COLUMN IF NOT EXISTS cost Decimal(38, 12);\n"


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_events.sql").write_text(FIRST)
    (directory / "0002_event_cost.sql").write_text(SECOND)
    return directory


async def recorded_versions(clickhouse: ClickHouse) -> list[int]:
    rows = await clickhouse.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    return [row["version"] for row in rows]


async def test_migrations_apply_once_in_order(clickhouse: ClickHouse, migrations_dir: Path) -> None:
    """All files run in version order, every statement of a file runs, and each version is recorded."""
    applied = await apply_migrations(clickhouse, migrations_dir)

    assert applied == [1, 2]
    assert await recorded_versions(clickhouse) == [1, 2]
    rows = await clickhouse.query("SELECT id, note, cost FROM events")
    assert [(row["id"], row["note"], row["cost"]) for row in rows] == [(1, "a;b", 0)]


async def test_rerun_is_a_no_op_and_new_files_apply(clickhouse: ClickHouse, migrations_dir: Path) -> None:
    """A second run applies nothing (the INSERT does not run twice); a newly added file applies alone."""
    await apply_migrations(clickhouse, migrations_dir)

    assert await apply_migrations(clickhouse, migrations_dir) == []
    assert await clickhouse.query("SELECT count() AS n FROM events") == [{"n": 1}]

    (migrations_dir / "0010_more_events.sql").write_text("INSERT INTO events (id) VALUES (2)")
    assert await apply_migrations(clickhouse, migrations_dir) == [10]
    assert await recorded_versions(clickhouse) == [1, 2, 10]
    assert await clickhouse.query("SELECT count() AS n FROM events") == [{"n": 2}]


async def test_changed_applied_file_is_detected(clickhouse: ClickHouse, migrations_dir: Path) -> None:
    """Editing an applied file makes the next run fail with MigrationChecksumError before running anything."""
    await apply_migrations(clickhouse, migrations_dir)
    (migrations_dir / "0001_events.sql").write_text(FIRST.replace("VALUES (1)", "VALUES (1), (99)"))
    (migrations_dir / "0003_never.sql").write_text("CREATE TABLE never (a UInt8) ENGINE = Memory")

    with pytest.raises(MigrationChecksumError, match=r"0001_events\.sql"):
        await apply_migrations(clickhouse, migrations_dir)

    assert await recorded_versions(clickhouse) == [1, 2]
    assert await clickhouse.query("SELECT count() AS n FROM system.tables WHERE name = 'never'") == [{"n": 0}]


async def test_failing_migration_is_not_recorded(clickhouse: ClickHouse, migrations_dir: Path) -> None:
    """A statement error raises MigrationError naming the file, and that version stays unapplied."""
    (migrations_dir / "0003_broken.sql").write_text("ALTER TABLE no_such_table ADD COLUMN x UInt8")

    with pytest.raises(MigrationError, match=r"0003_broken\.sql"):
        await apply_migrations(clickhouse, migrations_dir)

    assert await recorded_versions(clickhouse) == [1, 2]


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("create_events.sql", "must be named"),
        ("0001_again.sql", "also used"),
        ("0000_zero.sql", "start at 1"),
    ],
)
def test_badly_named_files_are_rejected(migrations_dir: Path, file_name: str, message: str) -> None:
    """Files without a unique positive version prefix are an error, not silently skipped."""
    (migrations_dir / file_name).write_text("SELECT 1")

    with pytest.raises(MigrationError, match=message):
        load_migrations(migrations_dir)


def test_default_directory_is_the_repository_migrations_folder() -> None:
    """Without an argument, migrations come from database/clickhouse at the repository root."""
    repository_root = Path(__file__).resolve().parents[2]
    assert repository_root / "database" / "clickhouse" == DEFAULT_MIGRATIONS_DIRECTORY
    assert DEFAULT_MIGRATIONS_DIRECTORY.is_dir()
