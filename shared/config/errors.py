"""ConfigError, and turning pydantic validation errors into one line per problem, keyed by path."""

import difflib
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from shared.config.key_path import KeyPath, format_key_path
from shared.config.models import FIELD_PROBLEMS_ERROR_TYPE

Problem = tuple[str, str]  # (dotted key path, or "" for the file as a whole; message)


class ConfigError(Exception):
    """The configuration cannot be used. `str()` is one `source: key.path: message` line per problem."""

    def __init__(self, problems: Iterable[Problem], *, source: Path | str | None = None) -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source is not None else ""
        return "\n".join(
            f"{prefix}{key}: {message}" if key else f"{prefix}{message}" for key, message in self.problems
        )


def problems_from_validation_error(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error, located by key path. Input values are left out on purpose:
    the value at a wrong key may well be a secret."""
    problems: list[Problem] = []
    for detail in error.errors():
        loc: KeyPath = tuple(detail["loc"])
        if detail["type"] == FIELD_PROBLEMS_ERROR_TYPE:
            for relative_path, message in detail["ctx"]["problems"]:
                problems.append((format_key_path((*loc, *relative_path)), message))
        elif detail["type"] == "extra_forbidden":
            problems.append((format_key_path(loc), _unknown_key_message(model, loc)))
        elif detail["type"] == "missing":
            problems.append((format_key_path(loc), "required"))
        else:
            problems.append((format_key_path(loc), _plain_message(detail["msg"])))
    return problems


def _plain_message(message: str) -> str:
    # pydantic prefixes the text of a plain ValueError raised in a validator.
    return message.removeprefix("Value error, ")


def _unknown_key_message(model: type[BaseModel], loc: KeyPath) -> str:
    known = _known_keys(model, loc[:-1])
    key = loc[-1] if loc else ""
    if known and isinstance(key, str):
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            return f"unknown key (did you mean {close[0]!r}?)"
        return f"unknown key (expected one of: {', '.join(known)})"
    return "unknown key"


def _known_keys(model: type[BaseModel], path: KeyPath) -> list[str]:
    """Field names of the model found by following `path` from `model`, or [] if there is none."""
    annotation: Any = model
    for part in path:
        annotation = _strip_optional(annotation)
        if _is_model(annotation):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]  # list items / dict values
        else:
            return []
    annotation = _strip_optional(annotation)
    return list(annotation.model_fields) if _is_model(annotation) else []


def _strip_optional(annotation: Any) -> Any:
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
