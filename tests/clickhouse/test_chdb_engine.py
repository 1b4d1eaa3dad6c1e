"""Behaviour specific to the in-process chdb engine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from shared.db.clickhouse import ChdbClickHouse, ClickHouseError, InvalidInputError, UnsupportedValueError

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_data_persists_across_close_and_reopen(tmp_path: Path) -> None:
    """Rows written before close() are there when a new engine opens the same directory."""
    path = tmp_path / "chdb"
    first = ChdbClickHouse(path)
    await first.execute("CREATE TABLE kept (id UInt64, cost Decimal(38, 12)) ENGINE = MergeTree ORDER BY id")
    await first.insert("kept", ["id", "cost"], [(1, Decimal("0.000000000001")), (2, Decimal("2.5"))])
    await first.close()

    second = ChdbClickHouse(path)
    try:
        rows = await second.query("SELECT id, cost FROM kept ORDER BY id")
    finally:
        await second.close()

    assert rows == [{"id": 1, "cost": Decimal("0.000000000001")}, {"id": 2, "cost": Decimal("2.5")}]


async def test_second_process_cannot_open_an_open_directory(tmp_path: Path) -> None:
    """While this process has the directory open, another process fails with ClickHouseError."""
    path = tmp_path / "chdb"
    owner = ChdbClickHouse(path)
    try:
        assert await owner.ping()
        script = textwrap.dedent(
            f"""
            import asyncio
            from pathlib import Path
            from shared.db.clickhouse import ChdbClickHouse, ClickHouseError

            async def main() -> None:
                engine = ChdbClickHouse(Path({str(path)!r}))
                try:
                    await engine.query("SELECT 1")
                except ClickHouseError as error:
                    print(type(error).__name__)
                else:
                    print("opened")
                finally:
                    await engine.close()

            asyncio.run(main())
            """
        )
        intruder = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert intruder.stdout.strip() == "ClickHouseError", intruder.stderr
        assert await owner.ping()
    finally:
        await owner.close()


async def test_process_cannot_open_two_directories_at_once(tmp_path: Path) -> None:
    """chdb embeds one server per process: a second directory fails until the first is closed."""
    first = ChdbClickHouse(tmp_path / "first")
    second = ChdbClickHouse(tmp_path / "second")
    try:
        assert await first.ping()
        with pytest.raises(ClickHouseError, match="one chdb directory"):
            await second.query("SELECT 1")
        await first.close()
        assert await second.ping()
    finally:
        await first.close()
        await second.close()


async def test_event_loop_keeps_running_during_a_large_insert(tmp_path: Path) -> None:
    """A 200k-row insert runs off the event loop: other coroutines keep getting scheduled."""
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await engine.execute("CREATE TABLE big (n UInt64, label String) ENGINE = MergeTree ORDER BY n")
        rows = [(n, f"label-{n}") for n in range(200_000)]
        ticks = 0
        insert = asyncio.ensure_future(engine.insert("big", ["n", "label"], rows))
        while not insert.done():
            ticks += 1
            await asyncio.sleep(0.005)
        assert await insert == 200_000
        assert ticks >= 5
    finally:
        await engine.close()


def test_path_with_a_question_mark_is_rejected(tmp_path: Path) -> None:
    """chdb would read text after '?' as engine options, so such paths are refused up front."""
    with pytest.raises(InvalidInputError):
        ChdbClickHouse(tmp_path / "data?readonly=1")


async def test_values_without_a_json_form_are_refused(tmp_path: Path) -> None:
    """Inserting a value chdb cannot be sent (bytes, arbitrary objects) raises UnsupportedValueError."""
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await engine.execute("CREATE TABLE blobs (a String) ENGINE = MergeTree ORDER BY a")
        for value in (b"raw", object()):
            with pytest.raises(UnsupportedValueError):
                await engine.insert("blobs", ["a"], [(value,)])
        assert await engine.query("SELECT count() AS n FROM blobs") == [{"n": 0}]
    finally:
        await engine.close()


async def test_a_read_is_not_queued_behind_a_write(tmp_path: Path) -> None:
    """Reads have their own session and threads: a query sent while a long write runs is answered
    before the write ends, sees what was written before it, and the write then completes."""
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await engine.execute("CREATE TABLE seen (id UInt64) ENGINE = MergeTree ORDER BY id")
        await engine.insert("seen", ["id"], [(1,), (2,)])
        # A write that holds the writer thread for 8 s (sleepEachRow, one row a second).
        write = asyncio.create_task(
            engine.execute(
                "INSERT INTO seen SELECT number + 10 FROM numbers(8) WHERE sleepEachRow(1) = 0"
                " SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0"
            )
        )
        await asyncio.sleep(0.2)
        rows = await engine.query("SELECT count() AS n FROM seen")
        assert not write.done()
        assert rows == [{"n": 2}]
        await write
        assert await engine.query("SELECT count() AS n FROM seen") == [{"n": 10}]
    finally:
        await engine.close()


async def test_concurrent_reads_and_writes_each_keep_their_own_parameters(tmp_path: Path) -> None:
    """Parameterised reads on every read thread beside parameterised writes: each query binds its
    own values (a session shared by two threads lost one query's parameters to the other)."""
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        await engine.execute("CREATE TABLE p (team String, x UInt64) ENGINE = MergeTree ORDER BY x")

        async def reader(name: str) -> None:
            for i in range(100):
                rows = await engine.query(
                    "SELECT {tag:String} AS tag, count() AS n FROM p WHERE team = {team:String}",
                    {"tag": f"{name}-{i}", "team": "t"},
                )
                assert rows[0]["tag"] == f"{name}-{i}"

        async def writer() -> None:
            for i in range(100):
                await engine.execute("INSERT INTO p SELECT {team:String}, {x:UInt64}", {"team": "t", "x": i})

        await asyncio.gather(reader("a"), reader("b"), reader("c"), writer())
        assert await engine.query("SELECT count() AS n FROM p") == [{"n": 100}]
    finally:
        await engine.close()
