"""The behaviour every ClickHouse engine must share, run against each engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from ipaddress import IPv4Address
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from shared.db.clickhouse import (
    ClickHouse,
    ClickHouseClosedError,
    InvalidIdentifierError,
    InvalidInputError,
    QueryError,
)

ALL_TYPES_TABLE = """
CREATE TABLE all_types (
    id UInt64,
    s String,
    u UInt64,
    i Int64,
    f Float64,
    cost Decimal(38, 12),
    ts DateTime64(3, 'UTC'),
    model LowCardinality(String),
    labels Map(String, String),
    tags Array(String),
    maybe_s Nullable(String),
    maybe_cost Nullable(Decimal(38, 12)),
    maybe_ts Nullable(DateTime64(3, 'UTC'))
) ENGINE = MergeTree ORDER BY id
"""
ALL_TYPES_COLUMNS = [
    "id", "s", "u", "i", "f", "cost", "ts", "model", "labels", "tags", "maybe_s", "maybe_cost", "maybe_ts",
]  # fmt: skip
UTC_ZONE = ZoneInfo("UTC")
TRICKY_TEXT = "quote ' double \" back \\ tab \t newline \n nul \0 unicode ü 😀 {x:String} ; DROP TABLE x --"


def all_types_rows() -> list[tuple[Any, ...]]:
    return [
        (
            1,
            TRICKY_TEXT,
            2**64 - 1,
            -(2**63),
            0.1,
            Decimal("12345678901234567890123456.123456789012"),  # all 38 digits
            datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
            "gpt-4o",
            {"tenant": "acme", "quote'key": "tab\tvalue", "": ""},
            ["a", "", "b'c", "\\"],
            "present",
            Decimal("-0.000000000001"),
            datetime(1999, 12, 31, 12, 0, 0, 1000, tzinfo=UTC),
        ),
        (
            2,
            "",
            0,
            2**63 - 1,
            -1e-300,
            Decimal("-99999999999999999999999999.999999999999"),
            # Another offset: stored as the same instant, read back in the column's zone.
            datetime(2024, 1, 1, 9, 0, 0, 123000, tzinfo=timezone(timedelta(hours=9))),
            "claude",
            {},
            [],
            None,
            None,
            None,
        ),
    ]


async def test_every_type_round_trips_exactly(clickhouse: ClickHouse) -> None:
    """Insert + select returns every supported type with the exact value and Python type."""
    await clickhouse.execute(ALL_TYPES_TABLE)
    rows = all_types_rows()
    assert await clickhouse.insert("all_types", ALL_TYPES_COLUMNS, rows) == 2

    result = await clickhouse.query("SELECT * FROM all_types ORDER BY id")

    expected = [dict(zip(ALL_TYPES_COLUMNS, row, strict=True)) for row in rows]
    assert result == expected
    first, second = result
    assert isinstance(first["cost"], Decimal)
    assert str(first["cost"]) == "12345678901234567890123456.123456789012"
    assert isinstance(first["maybe_cost"], Decimal)
    assert first["ts"].tzinfo == UTC_ZONE
    assert second["ts"] == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC_ZONE)
    assert type(first["u"]) is int
    assert type(first["f"]) is float


async def test_column_wise_insert_round_trips_every_type_exactly(clickhouse: ClickHouse) -> None:
    """insert_columns stores the same exact values as the row-wise insert, settings included."""
    await clickhouse.execute(ALL_TYPES_TABLE)
    rows = all_types_rows()
    columns = {name: [row[i] for row in rows] for i, name in enumerate(ALL_TYPES_COLUMNS)}

    inserted = await clickhouse.insert_columns("all_types", columns, settings={"optimize_on_insert": 0})

    assert inserted == 2
    result = await clickhouse.query("SELECT * FROM all_types ORDER BY id")
    assert result == [dict(zip(ALL_TYPES_COLUMNS, row, strict=True)) for row in rows]


async def test_column_wise_insert_refuses_bad_columns_and_stores_nothing(clickhouse: ClickHouse) -> None:
    """Columns of unequal length, a Decimal finer than the column's scale, a value of the wrong type or
    a non-integer setting raise InvalidInputError; nothing is stored."""
    await clickhouse.execute(ALL_TYPES_TABLE)
    good = {name: [row[i] for row in all_types_rows()] for i, name in enumerate(ALL_TYPES_COLUMNS)}

    bad_inputs: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({**good, "s": ["only one"]}, None),
        ({**good, "cost": [Decimal("1.0000000000001"), Decimal(0)]}, None),
        ({**good, "u": ["not a number", 1]}, None),
        ({**good, "id": "12"}, None),
        (good, {"optimize_on_insert": "0"}),
    ]
    for columns, settings in bad_inputs:
        with pytest.raises(InvalidInputError):
            await clickhouse.insert_columns("all_types", columns, settings=settings)

    assert (await clickhouse.query("SELECT count() AS n FROM all_types")) == [{"n": 0}]
    assert await clickhouse.insert_columns("all_types", {name: [] for name in ALL_TYPES_COLUMNS}) == 0


async def test_every_type_binds_as_a_parameter(clickhouse: ClickHouse) -> None:
    """Each supported type passed as a {name:Type} parameter comes back unchanged."""
    tokyo = ZoneInfo("Asia/Tokyo")
    params: dict[str, Any] = {
        "s": TRICKY_TEXT,
        "u": 2**64 - 1,
        "i": -(2**63),
        "f": 0.1,
        "cost": Decimal("12345678901234567890123456.123456789012"),
        "ts": datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        "before_epoch": datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC),
        "tokyo": datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
        "model": "gpt-4o",
        "labels": {"quote'key": "tab\tvalue", "back\\slash": "new\nline"},
        "tags": ["a", "", "b'c", "\\", TRICKY_TEXT],
        "nothing": None,
        "flag": True,
    }
    sql = """
        SELECT
            {s:String} AS s, {u:UInt64} AS u, {i:Int64} AS i, {f:Float64} AS f,
            {cost:Decimal(38, 12)} AS cost, {ts:DateTime64(3, 'UTC')} AS ts,
            {before_epoch:DateTime64(3, 'UTC')} AS before_epoch,
            {tokyo:DateTime64(3, 'Asia/Tokyo')} AS tokyo,
            {model:LowCardinality(String)} AS model, {labels:Map(String, String)} AS labels,
            {tags:Array(String)} AS tags, {nothing:Nullable(String)} AS nothing, {flag:Bool} AS flag
    """

    [row] = await clickhouse.query(sql, params)

    assert row == params
    assert row["tokyo"].tzinfo == tokyo
    assert row["tokyo"].hour == 9


async def test_parameters_are_data_not_sql(clickhouse: ClickHouse) -> None:
    """Values that look like SQL or contain quotes are compared as plain data and never executed."""
    await clickhouse.execute("CREATE TABLE users (name String) ENGINE = MergeTree ORDER BY name")
    await clickhouse.insert("users", ["name"], [("alice",), ("bob",)])
    hostile = ["' OR 1=1 --", "alice' OR '1'='1", "x'; DROP TABLE users; --", "\\' OR 1=1 --"]

    for value in hostile:
        rows = await clickhouse.query(
            "SELECT count() AS n FROM users WHERE name = {name:String}", {"name": value}
        )
        assert rows == [{"n": 0}]
    await clickhouse.insert("users", ["name"], [(value,) for value in hostile])
    for value in hostile:
        rows = await clickhouse.query("SELECT name FROM users WHERE name = {name:String}", {"name": value})
        assert rows == [{"name": value}]
    assert (await clickhouse.query("SELECT count() AS n FROM users")) == [{"n": 6}]


async def test_bad_identifiers_are_rejected_before_reaching_the_engine(clickhouse: ClickHouse) -> None:
    """Table, column and parameter names that are not plain identifiers raise InvalidIdentifierError."""
    await clickhouse.execute("CREATE TABLE victim (a String) ENGINE = MergeTree ORDER BY a")
    bad_tables = [
        "victim; DROP TABLE victim",
        "victim`",
        "`victim`",
        "1victim",
        "",
        "a.b.c",
        "vic tim",
        "victim\n",
    ]
    for table in bad_tables:
        with pytest.raises(InvalidIdentifierError):
            await clickhouse.insert(table, ["a"], [("x",)])
    for columns in (["a) SELECT 1 --"], ["a", "a"], [], "a"):
        with pytest.raises(InvalidIdentifierError):
            await clickhouse.insert("victim", columns, [("x",)])
    with pytest.raises(InvalidIdentifierError):
        await clickhouse.query("SELECT {x:String} AS x", {"x; DROP": "y"})

    assert (await clickhouse.query("SELECT count() AS n FROM victim")) == [{"n": 0}]


async def test_rows_of_the_wrong_width_are_rejected(clickhouse: ClickHouse) -> None:
    """A row with more or fewer values than columns raises instead of shifting data between columns."""
    await clickhouse.execute("CREATE TABLE pairs (a String, b String) ENGINE = MergeTree ORDER BY a")

    with pytest.raises(InvalidInputError):
        await clickhouse.insert("pairs", ["a", "b"], [("x", "y"), ("only one",)])

    assert (await clickhouse.query("SELECT count() AS n FROM pairs")) == [{"n": 0}]


async def test_bulk_insert_of_50k_rows_aggregates_exactly(clickhouse: ClickHouse) -> None:
    """50k token events insert in one call and sum to the exact token count and Decimal cost."""
    await clickhouse.execute(
        """
        CREATE TABLE token_events (
            ts DateTime64(3, 'UTC'), model LowCardinality(String), tokens UInt64, cost Decimal(38, 12)
        ) ENGINE = MergeTree ORDER BY (model, ts)
        """
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    models = ["gpt-4o", "claude", "llama"]
    rows = [
        (start + timedelta(milliseconds=n), models[n % 3], n, Decimal(n) * Decimal("0.000000000007"))
        for n in range(50_000)
    ]

    # How fast is benchmarks/ingest.py's business (beside raw chdb inserts); here: that all of it lands.
    inserted = await clickhouse.insert("token_events", ["ts", "model", "tokens", "cost"], rows)

    assert inserted == 50_000
    totals = await clickhouse.query(
        "SELECT model, count() AS events, sum(tokens) AS tokens, sum(cost) AS cost"
        " FROM token_events GROUP BY model ORDER BY model"
    )
    expected = []
    for model in sorted(models):
        mine = [row for row in rows if row[1] == model]
        expected.append(
            {
                "model": model,
                "events": len(mine),
                "tokens": sum(row[2] for row in mine),
                "cost": sum((row[3] for row in mine), Decimal(0)),
            }
        )
    assert totals == expected


async def test_concurrent_tasks_get_their_own_results(clickhouse: ClickHouse) -> None:
    """Many asyncio tasks querying and inserting at once each see exactly their own data."""
    await clickhouse.execute(
        "CREATE TABLE batches (task UInt32, n UInt32) ENGINE = MergeTree ORDER BY (task, n)"
    )

    async def one_task(task: int) -> None:
        await clickhouse.insert("batches", ["task", "n"], [(task, n) for n in range(task + 1)])
        rows = await clickhouse.query(
            "SELECT {task:UInt32} AS task, toString({task:UInt32}) AS text, number AS n"
            " FROM system.numbers LIMIT {limit:UInt32}",
            {"task": task, "limit": task + 1},
        )
        assert rows == [{"task": task, "text": str(task), "n": n} for n in range(task + 1)]

    await asyncio.gather(*(one_task(task) for task in range(40)))

    counts = await clickhouse.query("SELECT task, count() AS n FROM batches GROUP BY task ORDER BY task")
    assert counts == [{"task": task, "n": task + 1} for task in range(40)]


async def test_failed_statement_raises_query_error_and_engine_keeps_working(clickhouse: ClickHouse) -> None:
    """Bad SQL, a missing table or an unparsable parameter raise QueryError; later calls still work."""
    with pytest.raises(QueryError):
        await clickhouse.query("SELEKT 1")
    with pytest.raises(QueryError):
        await clickhouse.query("SELECT * FROM no_such_table")
    with pytest.raises(QueryError):
        await clickhouse.query("SELECT {n:UInt8} AS n", {"n": "not a number"})

    assert await clickhouse.ping()
    assert (await clickhouse.query("SELECT 1 AS one")) == [{"one": 1}]


async def test_empty_insert_and_empty_result(clickhouse: ClickHouse) -> None:
    """Inserting no rows returns 0 and a query matching nothing returns an empty list."""
    await clickhouse.execute("CREATE TABLE empty (a String) ENGINE = MergeTree ORDER BY a")

    assert await clickhouse.insert("empty", ["a"], []) == 0
    assert await clickhouse.query("SELECT a FROM empty WHERE a = {a:String}", {"a": "x"}) == []


async def test_closed_engine_refuses_calls(clickhouse: ClickHouse) -> None:
    """After close(), ping is False, calls raise ClickHouseClosedError, and close() is idempotent."""
    assert await clickhouse.ping()

    await clickhouse.close()
    await clickhouse.close()

    assert not await clickhouse.ping()
    with pytest.raises(ClickHouseClosedError):
        await clickhouse.query("SELECT 1")


async def test_naive_datetimes_are_wall_clock_time_in_the_declared_zone(clickhouse: ClickHouse) -> None:
    """A naive datetime, inserted or bound, means wall-clock time in the column's / placeholder's zone."""
    tokyo = ZoneInfo("Asia/Tokyo")
    await clickhouse.execute(
        "CREATE TABLE local_times (id UInt8, at DateTime64(3, 'Asia/Tokyo')) ENGINE = MergeTree ORDER BY id"
    )
    naive = datetime(2024, 1, 1, 9, 0, 0, 250000)
    await clickhouse.insert("local_times", ["id", "at"], [(1, naive)])
    await clickhouse.insert_columns("local_times", {"id": [2], "at": [naive]})

    rows = await clickhouse.query(
        "SELECT at, at = {p:DateTime64(3, 'Asia/Tokyo')} AS same FROM local_times ORDER BY id", {"p": naive}
    )

    assert rows == [{"at": naive.replace(tzinfo=tokyo), "same": 1}] * 2
    assert rows[0]["at"] == datetime(2024, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)


async def test_other_types_come_back_as_driver_style_python_values(clickhouse: ClickHouse) -> None:
    """Date, UUID, Enum, IPv4, Bool, Int128, tuples, int-keyed maps and zone-less date-times decode alike."""
    [row] = await clickhouse.query(
        """
        SELECT
            toDate('2024-02-29') AS day,
            toUUID('00000000-0000-0000-0000-000000000001') AS id,
            CAST('b' AS Enum8('a' = 1, 'b' = 2)) AS level,
            toIPv4('10.0.0.1') AS ip,
            toBool(1) AS flag,
            toInt128('-170141183460469231731687303715884105728') AS big,
            map(7, 'seven') AS int_keys,
            tuple(1, 'a') AS pair,
            CAST((1, 'x') AS Tuple(n UInt8, s String)) AS named,
            toDateTime(1704067200) AS zone_less,
            [toDateTime64('2024-01-01 00:00:00.5', 3, 'UTC')] AS times,
            inf AS infinite,
            CAST(NULL AS Nullable(Float64)) AS no_float
        """
    )

    assert row == {
        "day": date(2024, 2, 29),
        "id": UUID(int=1),
        "level": "b",
        "ip": IPv4Address("10.0.0.1"),
        "flag": True,
        "big": -(2**127),
        "int_keys": {7: "seven"},
        "pair": (1, "a"),
        "named": {"n": 1, "s": "x"},
        "zone_less": datetime(2024, 1, 1, tzinfo=UTC),
        "times": [datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC_ZONE)],
        "infinite": float("inf"),
        "no_float": None,
    }
    assert row["zone_less"].tzinfo is UTC
