"""Python values -> the text ClickHouse parses for a `{name:Type}` placeholder.

ClickHouse (server and chdb alike) parses a parameter's text with the declared type's
*escaped* text format — the TSV field format: `a\\tb` for a string, `['x', NULL]` for an
array (elements in *quoted* format), `{'k':'v'}` for a map, `\\N` for NULL. Rendering that
text ourselves, instead of trusting each client library's own conversion, makes both engines
bind identical text; the value is then parsed as data of the declared type, never as SQL.

Aware datetimes are sent as Unix epoch seconds with microseconds, which is correct whatever
zone the placeholder declares. A naive datetime is sent as wall-clock text and so means
wall-clock time in the placeholder type's zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from uuid import UUID

from .errors import UnsupportedValueError
from .identifiers import validate_identifier

_NEEDS_ESCAPE = re.compile(r"[\\'\b\f\r\n\t\0\a\v]")
# The escape set clickhouse-driver uses too, so the text survives its extra quoting layer.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\b": "\\b",
    "\f": "\\f",
    "\r": "\\r",
    "\n": "\\n",
    "\t": "\\t",
    "\0": "\\0",
    "\a": "\\a",
    "\v": "\\v",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def escape_text(value: str) -> str:
    """Backslash-escape `value` for ClickHouse's escaped and quoted text formats."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match.group()], value)


def quote_text(value: str) -> str:
    return f"'{escape_text(value)}'"


def epoch_text(value: datetime) -> str:
    """Exact Unix time of an aware datetime, e.g. `-1.5`; whole seconds have no fraction.

    Whole seconds stay integral because `DateTime` (unlike `DateTime64`) rejects a fraction.
    """
    delta = value - _EPOCH
    total_microseconds = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    sign = "-" if total_microseconds < 0 else ""
    seconds, microseconds = divmod(abs(total_microseconds), 1_000_000)
    if microseconds == 0:
        return f"{sign}{seconds}"
    return f"{sign}{seconds}.{microseconds:06d}"


def render_parameters(params: Mapping[str, Any] | None) -> dict[str, str]:
    """Placeholder texts keyed by validated parameter name."""
    if not params:
        return {}
    return {validate_identifier(name): render_parameter(value) for name, value in params.items()}


def render_parameter(value: Any) -> str:
    """The escaped-format text of `value` for a `{name:Type}` placeholder."""
    return _render(value, _FIELD)


def _datetime_text(value: datetime) -> str:
    if value.utcoffset() is None:
        return value.isoformat(sep=" ")
    return epoch_text(value)


def _bool_text(value: bool) -> str:
    # 1/0 is accepted by Bool and by every integer type, true/false only by Bool.
    return "1" if value else "0"


def _nested(value: Any) -> str:
    return _render(value, _NESTED)


def _array_text(values: Sequence[Any]) -> str:
    return "[" + ",".join(map(_nested, values)) + "]"


def _tuple_text(values: Sequence[Any]) -> str:
    return "(" + ",".join(map(_nested, values)) + ")"


def _map_text(values: Mapping[Any, Any]) -> str:
    return "{" + ",".join(f"{_nested(key)}:{_nested(item)}" for key, item in values.items()) + "}"


_Renderers = dict[type, Callable[[Any], str]]

_SHARED: _Renderers = {
    bool: _bool_text,
    int: str,
    # repr is the shortest text that round-trips and spells inf/-inf/nan as ClickHouse reads them.
    float: repr,
    Decimal: lambda value: format(value, "f"),
    list: _array_text,
    tuple: _tuple_text,
    dict: _map_text,
}
# A whole placeholder value: bare text.
_FIELD: _Renderers = {
    **_SHARED,
    type(None): lambda _: "\\N",
    str: escape_text,
    datetime: _datetime_text,
    date: date.isoformat,
    UUID: str,
    IPv4Address: str,
    IPv6Address: str,
}
# A value inside an array, map or tuple: SQL-literal-like quoted text.
_NESTED: _Renderers = {
    **_SHARED,
    type(None): lambda _: "NULL",
    str: quote_text,
    datetime: lambda value: quote_text(_datetime_text(value)),
    date: lambda value: f"'{value.isoformat()}'",
    UUID: lambda value: f"'{value}'",
    IPv4Address: lambda value: f"'{value}'",
    IPv6Address: lambda value: f"'{value}'",
}


def _render(value: Any, renderers: _Renderers) -> str:
    render = renderers.get(type(value))
    if render is not None:
        return render(value)
    # Exact-type lookup misses subclasses (IntEnum, namedtuple, OrderedDict, ...).
    if isinstance(value, Enum):
        return _render(value.value, renderers)
    for kind in (bool, int, float, Decimal, str, datetime, date, UUID, list, tuple, dict):
        if isinstance(value, kind):
            return renderers[kind](value)
    if isinstance(value, Mapping):
        return renderers[dict](value)
    raise UnsupportedValueError(f"cannot bind a {type(value).__name__} as a ClickHouse parameter: {value!r}")
