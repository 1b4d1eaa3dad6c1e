"""Parsing ClickHouse type names from result metadata."""

from __future__ import annotations

from shared.db.clickhouse.column_types import ColumnType, parse_column_type


def test_nested_types_parse_into_a_tree() -> None:
    """Arguments split at top-level commas only, so nested types and literals stay whole."""
    parsed = parse_column_type("Map(String, Array(Nullable(Decimal(38, 12))))")

    assert parsed == ColumnType("Map", ("String", "Array(Nullable(Decimal(38, 12)))"))
    assert parsed.argument_type(1).argument_type(0).argument_type(0) == ColumnType("Decimal", ("38", "12"))
    assert parse_column_type("Enum8('a,b' = 1, 'c)' = 2)").arguments == ("'a,b' = 1", "'c)' = 2")


def test_datetime_zones_are_read_from_the_type() -> None:
    """The declared zone of DateTime/DateTime64 is extracted and unquoted; none means None."""
    assert parse_column_type("DateTime64(3, 'UTC')").timezone() == "UTC"
    assert parse_column_type("DateTime('Asia/Tokyo')").timezone() == "Asia/Tokyo"
    assert parse_column_type("DateTime64(3)").timezone() is None
    assert parse_column_type("DateTime").timezone() is None


def test_tuple_elements_keep_their_names() -> None:
    """Named tuple elements yield (name, type); unnamed ones yield (None, type)."""
    named = parse_column_type("Tuple(a String, `b c` Nullable(Int8), d DateTime64(3, 'UTC'))")
    unnamed = parse_column_type("Tuple(String, LowCardinality(String))")

    assert named.tuple_elements() == [
        ("a", ColumnType("String")),
        ("b c", ColumnType("Nullable", ("Int8",))),
        ("d", ColumnType("DateTime64", ("3", "'UTC'"))),
    ]
    assert unnamed.tuple_elements() == [
        (None, ColumnType("String")),
        (None, ColumnType("LowCardinality", ("String",))),
    ]
