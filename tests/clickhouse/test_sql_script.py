"""Splitting migration scripts into statements."""

from __future__ import annotations

import pytest

from shared.db.clickhouse.sql_script import SqlScriptError, split_sql_statements


def test_statements_split_on_semicolons() -> None:
    """Each `;` outside literals and comments ends a statement; surrounding whitespace is trimmed."""
    script = "CREATE TABLE a (x UInt8) ENGINE = Memory;\n\n  DROP TABLE a ;\nSELECT 1"
    assert split_sql_statements(script) == [
        "CREATE TABLE a (x UInt8) ENGINE = Memory",
        "DROP TABLE a",
        "SELECT 1",
    ]


def test_semicolons_inside_literals_and_comments_do_not_split() -> None:
    """`;` in strings (with \\' and '' escapes), quoted identifiers and comments stays in its statement."""
    script = """
        INSERT INTO t VALUES ('a;b', 'it\\'s; here', 'it''s; here'); -- trailing; comment
        SELECT "col;umn", `other;col` FROM t /* block; /* nested; */ still comment; */ WHERE x = ';';
    """
    assert split_sql_statements(script) == [
        "INSERT INTO t VALUES ('a;b', 'it\\'s; here', 'it''s; here')",
        '-- trailing; comment\n        SELECT "col;umn", `other;col` FROM t'
        " /* block; /* nested; */ still comment; */ WHERE x = ';'",
    ]


def test_comment_only_and_empty_statements_are_dropped() -> None:
    """Chunks holding only comments, whitespace or stray semicolons produce no statement."""
    assert split_sql_statements("-- header only\n;;\n/* nothing */ ;  \n") == []


@pytest.mark.parametrize("script", ["SELECT 'open", "SELECT `open", "SELECT 1 /* open /* nested */"])
def test_unterminated_literals_and_comments_are_errors(script: str) -> None:
    """An unterminated quote or block comment raises instead of swallowing the rest of the file."""
    with pytest.raises(SqlScriptError):
        split_sql_statements(script)
