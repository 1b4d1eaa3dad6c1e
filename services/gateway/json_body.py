"""The one JSON reader of the edge: request bodies parsed with limits, refusals typed.

`json.loads` raised `RecursionError` on nesting near 1,000 levels and `ValueError` on an integer of
more than 4,300 digits (Python's int-from-text limit): both escaped as 500s. pydantic-core's parser
(jiter, the one `model_validate_json` uses) has both limits built in and fails cleanly with a
`ValueError` naming which; it also refuses lone surrogates (`"\\ud800"`, which no store can encode)
and the non-JSON literals `NaN`/`Infinity` that `json.loads` lets through, and parses about twice as
fast. So the limits are the parser's, pinned here and by tests/gateway/test_bad_input_classes.py
(an upgrade that moves them fails that test rather than changing the contract silently).
"""

from __future__ import annotations

from typing import Any

import pydantic_core

from shared.messages.envelope import ErrorBody, ErrorCode

# Nesting of arrays and objects (jiter's recursion limit); no document of the API nests beyond 5.
MAX_DEPTH = 200
# Digits of an integer (Python's int-from-text limit, which jiter applies too); the API's largest
# integers are 19 digits.
MAX_INTEGER_DIGITS = 4300

TOO_DEEP = "json_too_deep"
NUMBER_TOO_LARGE = "json_number_too_large"
INVALID = "json_invalid"


class JsonRefused(ValueError):
    """A body that is not JSON the edge reads; `body` is the typed 400 to answer with."""

    def __init__(self, kind: str, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        detail: dict[str, Any] = {"loc": "body", "message": message, "type": kind}
        if limit is not None:
            detail["limit"] = limit
        self.body = ErrorBody(code=ErrorCode.BAD_REQUEST, message=message, details=[detail])


def read_json(raw: bytes) -> Any:
    """The JSON document of `raw`; JsonRefused when it is not JSON, nests too deep or holds a number
    too large to read."""
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        reason = str(error)
        if reason.startswith("recursion limit exceeded"):
            raise JsonRefused(
                TOO_DEEP, f"the body nests deeper than {MAX_DEPTH} levels", MAX_DEPTH
            ) from error
        if reason.startswith("number out of range"):
            raise JsonRefused(
                NUMBER_TOO_LARGE,
                f"the body holds a number too large to read (integers: at most {MAX_INTEGER_DIGITS} digits)",
                MAX_INTEGER_DIGITS,
            ) from error
        raise JsonRefused(INVALID, f"the body is not valid JSON: {reason}") from error
