"""Rendering of `{name:Type}` parameter values, and their transport through clickhouse-driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from clickhouse_driver.util.escape import escape_params

from shared.db.clickhouse import ChdbClickHouse, UnsupportedValueError
from shared.db.clickhouse.parameters import epoch_text, escape_text, render_parameter
from shared.db.clickhouse.server_engine import wire_parameters


class Color(Enum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\\N"),
        (True, "1"),
        (False, "0"),
        (-(2**63), "-9223372036854775808"),
        (0.1, "0.1"),
        (float("inf"), "inf"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000000000001"), "-0.000000000001"),
        ("tab\tnew\nback\\quote'", "tab\\tnew\\nback\\\\quote\\'"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=UTC), "1704164645.123000"),
        (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
        (UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (["a'b", None, 1], "['a\\'b',NULL,1]"),
        ({"k": ["v"]}, "{'k':['v']}"),
        (("x", Decimal("1.5")), "('x',1.5)"),
        ([datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), date(2024, 1, 1)], "['1','2024-01-01']"),
        (Color.RED, "red"),
        (Level.HIGH, "3"),
    ],
)
def test_values_render_as_clickhouse_escaped_text(value: Any, text: str) -> None:
    """Each Python value renders as the escaped-format text ClickHouse parses for a placeholder."""
    assert render_parameter(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), "0"),
        (datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC), "-1.500000"),
        (datetime(2024, 1, 1, 9, 0, 0, 1, tzinfo=timezone(timedelta(hours=9))), "1704067200.000001"),
    ],
)
def test_epoch_text_is_exact_on_both_sides_of_the_epoch(value: datetime, text: str) -> None:
    """Epoch text is computed with integers, so the sign and microseconds are exact."""
    assert epoch_text(value) == text


def test_unsupported_values_are_refused() -> None:
    """A value with no ClickHouse text (bytes, objects) raises UnsupportedValueError."""
    for value in (b"raw", object(), {1, 2}):
        with pytest.raises(UnsupportedValueError):
            render_parameter(value)


@pytest.fixture
async def chdb(tmp_path: Path) -> AsyncIterator[ChdbClickHouse]:
    engine = ChdbClickHouse(tmp_path / "chdb")
    try:
        yield engine
    finally:
        await engine.close()


DRIVER_CASES: list[tuple[str, Any]] = [
    ("String", "tab\tnew\nback\\quote' double\" nul\0 bell\a 😀"),
    ("Nullable(String)", None),
    ("Nullable(String)", "NULL"),
    ("Decimal(38, 12)", Decimal("12345678901234567890123456.123456789012")),
    ("DateTime64(3, 'UTC')", datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)),
    ("Array(String)", ["a'b", "back\\slash", "tab\t", ""]),
    ("Map(String, String)", {"quote'key": "new\nline", "": ""}),
    ("Array(Nullable(Decimal(38, 12)))", [Decimal("0.000000000001"), None]),
]


@pytest.mark.parametrize(("type_name", "value"), DRIVER_CASES)
async def test_driver_wire_encoding_reaches_the_engine_intact(
    chdb: ChdbClickHouse, type_name: str, value: Any
) -> None:
    """The literal clickhouse-driver sends for a wire parameter binds to the original value in ClickHouse.

    clickhouse-driver's server-side parameters travel as a quoted literal the server unquotes
    and then parses as the declared type; `SET param_v = <literal>` goes through the same two
    steps in the same engine, so this proves the server path without a server.
    """
    literal = escape_params(wire_parameters({"v": value}), None, for_server=True)["v"]

    await chdb.execute(f"SET param_v = {literal}")
    rows = await chdb.query(f"SELECT {{v:{type_name}}} AS v")

    assert rows == [{"v": value}]


def test_wire_encoding_of_strings_matches_the_drivers_own() -> None:
    """For plain strings our wire literal is byte-identical to what the driver itself sends."""
    for text in ["plain", "quote ' back \\ tab \t nl \n nul \0 vt \v", "😀"]:
        ours = escape_params(wire_parameters({"v": text}), None, for_server=True)
        drivers = escape_params({"v": text}, None, for_server=True)
        assert ours == drivers


def test_escape_text_leaves_plain_text_alone() -> None:
    """Text without special characters is returned as is (the common, fast path)."""
    assert escape_text("gpt-4o mini / ü") == "gpt-4o mini / ü"
