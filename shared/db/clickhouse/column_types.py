"""Parsing of ClickHouse type names as reported in result metadata.

Both engines report column types as text (`Map(String, Array(Nullable(Decimal(38, 12))))`);
the result converters need the tree to pick a Python conversion per column once, instead of
inspecting every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAMED_ELEMENT = re.compile(r"(`(?:[^`\\]|\\.)*`|[A-Za-z_][A-Za-z0-9_]*)\s+(\S.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ColumnType:
    """One node of a type: `name` plus its raw top-level arguments (`Decimal(38, 12)` -> 38, 12)."""

    name: str
    arguments: tuple[str, ...] = ()

    def argument_type(self, index: int) -> ColumnType:
        return parse_column_type(self.arguments[index])

    def string_argument(self, index: int) -> str | None:
        """The unquoted value of a string-literal argument such as the zone in `DateTime64(3, 'UTC')`."""
        if index >= len(self.arguments):
            return None
        raw = self.arguments[index]
        if len(raw) < 2 or raw[0] != "'" or raw[-1] != "'":
            return None
        return re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.DOTALL)

    def timezone(self) -> str | None:
        """The explicit zone of a DateTime / DateTime64 column, None when it uses the server zone."""
        if self.name == "DateTime":
            return self.string_argument(0)
        if self.name == "DateTime64":
            return self.string_argument(1)
        return None

    def tuple_elements(self) -> list[tuple[str | None, ColumnType]]:
        """Elements of a Tuple as (name or None, type)."""
        elements: list[tuple[str | None, ColumnType]] = []
        for argument in self.arguments:
            named = _NAMED_ELEMENT.fullmatch(argument)
            if named is None:
                elements.append((None, parse_column_type(argument)))
                continue
            name = named.group(1)
            if name.startswith("`"):
                name = re.sub(r"\\(.)", r"\1", name[1:-1], flags=re.DOTALL)
            elements.append((name, parse_column_type(named.group(2))))
        return elements


def parse_column_type(text: str) -> ColumnType:
    text = text.strip()
    open_at = text.find("(")
    if open_at == -1:
        return ColumnType(text)
    if not text.endswith(")"):
        raise ValueError(f"unbalanced ClickHouse type: {text!r}")
    return ColumnType(text[:open_at].strip(), tuple(split_type_arguments(text[open_at + 1 : -1])))


def split_type_arguments(text: str) -> list[str]:
    """Split on commas that are outside parentheses and quotes (`Enum8('a,b' = 1)` has one argument)."""
    arguments: list[str] = []
    depth = 0
    start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char in "'`":
            index = _skip_quoted(text, index)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append(text[start:index].strip())
            start = index + 1
        index += 1
    tail = text[start:].strip()
    if tail or arguments:
        arguments.append(tail)
    return arguments


def _skip_quoted(text: str, start: int) -> int:
    quote = text[start]
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index + 1
        index += 1
    raise ValueError(f"unterminated quote in ClickHouse type: {text!r}")
