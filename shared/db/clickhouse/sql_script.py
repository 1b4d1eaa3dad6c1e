"""Splitting a SQL script into statements for engines that run one statement per call.

A statement ends at a `;` that is outside string literals ('...'), quoted identifiers
("..." and `...`), `--` line comments and `/* */` block comments (which nest in ClickHouse).
Statements holding nothing but comments and whitespace are dropped.
"""

from __future__ import annotations


class SqlScriptError(ValueError):
    """The script has an unterminated literal or comment."""


def split_sql_statements(script: str) -> list[str]:
    statements: list[str] = []
    start = 0
    has_code = False
    index = 0
    length = len(script)
    while index < length:
        char = script[index]
        if char in "'\"`":
            index = _end_of_quoted(script, index)
            has_code = True
        elif script.startswith("--", index):
            newline = script.find("\n", index)
            index = length if newline == -1 else newline + 1
        elif script.startswith("/*", index):
            index = _end_of_block_comment(script, index)
        elif char == ";":
            if has_code:
                statements.append(script[start:index].strip())
            start = index + 1
            has_code = False
            index += 1
        else:
            has_code = has_code or not char.isspace()
            index += 1
    if has_code:
        statements.append(script[start:].strip())
    return statements


def _end_of_quoted(script: str, start: int) -> int:
    quote = script[start]
    index = start + 1
    while index < len(script):
        char = script[index]
        if char == "\\":
            index += 2
        elif char == quote:
            # A doubled quote is an escaped quote, not the end.
            if script.startswith(quote, index + 1):
                index += 2
            else:
                return index + 1
        else:
            index += 1
    raise SqlScriptError(f"unterminated {quote} literal starting at offset {start}")


def _end_of_block_comment(script: str, start: int) -> int:
    depth = 0
    index = start
    while index < len(script):
        if script.startswith("/*", index):
            depth += 1
            index += 2
        elif script.startswith("*/", index):
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    raise SqlScriptError(f"unterminated /* comment starting at offset {start}")
