"""What went wrong, as data: every refusal in this package is a `Problem` with a machine-readable
code and the path or names it concerns, so the edge can answer a 422 whose details a client can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ProblemCode(StrEnum):
    # Documents and files.
    INVALID_YAML = "invalid_yaml"
    YAML_NOT_ALLOWED = "yaml_not_allowed"
    TOO_LARGE = "too_large"
    INVALID_FIELD = "invalid_field"
    NAME_MISMATCH = "name_mismatch"
    DUPLICATE_NAME = "duplicate_name"
    INVALID_CONFIG = "invalid_config"
    INVALID_CONFIG_SCHEMA = "invalid_config_schema"
    # Templates.
    TEMPLATE_SYNTAX = "template_syntax"
    TEMPLATE_TAG_NOT_ALLOWED = "template_tag_not_allowed"
    UNDECLARED_VARIABLE = "undeclared_variable"
    UNDECLARED_INCLUDE = "undeclared_include"
    # Rendering.
    MISSING_VARIABLE = "missing_variable"
    MISTYPED_VARIABLE = "mistyped_variable"
    UNKNOWN_VARIABLE = "unknown_variable"
    CONFLICTING_VARIABLE = "conflicting_variable"
    INCLUDE_NOT_FOUND = "include_not_found"
    INCLUDE_CYCLE = "include_cycle"
    INCLUDE_TOO_DEEP = "include_too_deep"
    INCLUDE_NOT_TEXT = "include_not_text"
    RENDER_FAILED = "render_failed"
    OUTPUT_TOO_LARGE = "output_too_large"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str
    # Where: a field path ("variables.topic.default", "messages[2].content") or a prompt name.
    path: str = ""
    # The names the problem is about (a variable, the include chain a -> b -> a), in order.
    names: tuple[str, ...] = field(default=())


class PromptError(ValueError):
    """Raised with every problem found, not only the first: an editor shows them all at once."""

    def __init__(self, problems: tuple[Problem, ...] | list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.code}: {p.message}" for p in self.problems))
