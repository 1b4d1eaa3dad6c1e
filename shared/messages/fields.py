"""Field types every request model shares: free text without control characters, and timestamps.

`Text` is the type of every free-text field of a request (names, e-mail addresses, patterns,
filters, cursors): no control character at all (Unicode category Cc: U+0000-U+001F and
U+007F-U+009F). PostgreSQL cannot store U+0000 in `text` (a NUL reached asyncpg as a 500), and the
others have no place in a name or a filter: they hide text in logs and terminals and break CSV
exports. `MultilineText` is for the rare field where line breaks are content (an alert's body):
it lets tab, line feed and carriage return through and refuses the rest, NUL always.

`JsonData` is for a field that holds free JSON (a prompt's config, a test case's variables, a JSON
schema): every string in it, keys included, follows `MultilineText`'s rule, since PostgreSQL's
`jsonb` cannot hold U+0000 either.

`Text` and `MultilineText` are a `pattern` constraint (checked in pydantic-core's Rust regex: no
Python call per field on the ingest path, and the rule shows in the OpenAPI document as it is
enforced). Add lengths with `Annotated[Text, StringConstraints(max_length=...)]`; a field with a
pattern of its own (a slug, an id) does not need `Text` when that pattern already excludes control
characters, which the edge's class test (tests/gateway/test_bad_input_classes.py) checks for every
field of every route.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, JsonValue, StringConstraints

# The wire contract's rule (mno_wire, which the SDK shares): one rule on both sides.
from mno_wire.token_events import TEXT_PATTERN as TEXT_PATTERN

MULTILINE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

Text = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
MultilineText = Annotated[str, StringConstraints(pattern=MULTILINE_TEXT_PATTERN)]

_MULTILINE_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _refuse_control_characters_in_json(value: JsonValue) -> JsonValue:
    pending: list[JsonValue] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _MULTILINE_REFUSED.search(item):
                raise ValueError(JSON_CONTROL_MESSAGE)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if _MULTILINE_REFUSED.search(key):
                    raise ValueError(JSON_CONTROL_MESSAGE)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)
    return value


JSON_CONTROL_MESSAGE = "control characters other than tab and line breaks are not allowed in JSON strings"
JsonData = Annotated[JsonValue, AfterValidator(_refuse_control_characters_in_json)]

CONTROL_CHARACTER = "control_character"
_CONTROL_MESSAGES = {
    TEXT_PATTERN: "control characters (U+0000-U+001F, U+007F-U+009F) are not allowed",
    MULTILINE_TEXT_PATTERN: "control characters other than tab and line breaks are not allowed",
}


def control_character_error(error_type: str, context: dict[str, Any] | None) -> str | None:
    """The message for a pydantic error that is `Text`'s rule, or None for any other error (so error
    bodies say what is wrong instead of quoting the regular expression)."""
    if error_type != "string_pattern_mismatch" or not context:
        return None
    return _CONTROL_MESSAGES.get(str(context.get("pattern")))


def _rfc3339_only(value: object) -> object:
    # pydantic would read 1700000000 or "1700000000" as Unix time (guessing seconds or milliseconds):
    # the contract is RFC 3339 text, so a number is refused rather than guessed at.
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("a timestamp is RFC 3339 text with an offset, not a number")
    return value


# Every instant a request carries (event times, query ranges, expiries): RFC 3339 with an offset.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
