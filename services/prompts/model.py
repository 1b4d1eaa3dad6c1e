"""The prompt document: what one version of a prompt is. Text prompts are one template; chat prompts
a list of messages with roles. Variables are declared with a type; includes name another prompt by
label or version; model config is free-form JSON checked against a schema (ours, and the team's if
it declares one).

Variable types, as JSON sees values:
- `string`, `boolean`; `number` (any finite int or float, not a boolean); `integer` (an int, or a
  float with no fraction as JSON clients send it);
- `enum` (one of the declared `values`, strings);
- `list` (a JSON array) and `object` (a JSON object with string keys): for few-shot examples and
  structured context a template loops over.
A variable with a `default` is optional; `required: false` without a default is optional and absent
from the template's context (templates test it with `is defined`).
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from services.prompts.problems import Problem, ProblemCode

PROMPT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
LABEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
# Jinja's own names and ours: a variable called `include` would hide the includes namespace.
RESERVED_VARIABLES = frozenset(
    {
        "include",
        "loop",
        "self",
        "super",
        "varargs",
        "kwargs",
        "caller",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
        "for",
        "range",
    }
)
MAX_TEMPLATE_CHARS = 100_000
MAX_MESSAGES = 200
MAX_VARIABLES = 100
MAX_INCLUDES = 20


class PromptType(StrEnum):
    TEXT = "text"
    CHAT = "chat"


class VariableType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ENUM = "enum"
    LIST = "list"
    OBJECT = "object"


class Variable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: VariableType
    description: str = Field(default="", max_length=2000)
    required: bool | None = None
    default: JsonValue = None
    values: tuple[str, ...] | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Variable:
        if self.type is VariableType.ENUM:
            if not self.values:
                raise ValueError("an enum variable declares its `values`")
            if len(set(self.values)) != len(self.values):
                raise ValueError("enum values repeat")
        elif self.values is not None:
            raise ValueError("only an enum variable has `values`")
        if self.default is not None and type_problem(self, self.default) is not None:
            raise ValueError(f"the default is not a {self.type.value}")
        if self.default is not None and self.required:
            raise ValueError("a variable with a default is not required")
        return self

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None


def type_problem(variable: Variable, value: object) -> str | None:
    """Why `value` is not of the variable's type (None when it is)."""
    match variable.type:
        case VariableType.STRING:
            ok = isinstance(value, str)
        case VariableType.BOOLEAN:
            ok = isinstance(value, bool)
        case VariableType.NUMBER:
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        case VariableType.INTEGER:
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer()
            )
        case VariableType.ENUM:
            ok = isinstance(value, str) and value in (variable.values or ())
            if isinstance(value, str) and not ok:
                return f"{value!r} is not one of {', '.join(variable.values or ())}"
        case VariableType.LIST:
            ok = isinstance(value, list | tuple)
        case VariableType.OBJECT:
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
    return None if ok else f"expected {variable.type.value}, got {json_type_name(value)}"


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str = Field(max_length=MAX_TEMPLATE_CHARS)


class Include(BaseModel):
    """Another prompt by name and exactly one of label or version (a version pins it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=PROMPT_NAME.pattern)
    label: str | None = Field(default=None, pattern=LABEL_NAME.pattern)
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_selector(self) -> Include:
        if (self.label is None) == (self.version is None):
            raise ValueError("an include names exactly one of `label` or `version`")
        return self

    def describe(self) -> str:
        return f"{self.name}@{self.label}" if self.label is not None else f"{self.name}@v{self.version}"


class PromptDocument(BaseModel):
    """One version's content. `tags` describe the prompt, not the version, and the commit message
    describes the change: neither is part of the content hash (`documents.content_hash`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=PROMPT_NAME.pattern)
    type: PromptType
    template: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    messages: tuple[Message, ...] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)
    variables: dict[str, Variable] = Field(default_factory=dict, max_length=MAX_VARIABLES)
    includes: dict[str, Include] = Field(default_factory=dict, max_length=MAX_INCLUDES)
    config: dict[str, JsonValue] = Field(default_factory=dict)
    tags: tuple[str, ...] = Field(default=(), max_length=50)
    commit_message: str | None = Field(default=None, max_length=2000)

    @field_validator("variables", "includes")
    @classmethod
    def _names(cls, value: dict[str, object]) -> dict[str, object]:
        for name in value:
            if not VARIABLE_NAME.match(name) or name in RESERVED_VARIABLES:
                raise ValueError(f"{name!r} is not a usable name (letters, digits, _; not a reserved word)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not TAG.match(tag):
                raise ValueError(f"{tag!r} is not a tag (letters, digits and ._:/-, at most 64)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _body(self) -> PromptDocument:
        if self.type is PromptType.TEXT and (self.template is None or self.messages is not None):
            raise ValueError("a text prompt has a `template` and no `messages`")
        if self.type is PromptType.CHAT and (self.messages is None or self.template is not None):
            raise ValueError("a chat prompt has `messages` and no `template`")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """Each template of the document with its path: the text, or every message's content."""
        if self.template is not None:
            return [("template", self.template)]
        return [(f"messages[{i}].content", m.content) for i, m in enumerate(self.messages or ())]


def pydantic_problems(error: ValidationError) -> list[Problem]:
    """A pydantic ValidationError as problems, each at its field path."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in item["loc"]).replace(".[", "[")
        problems.append(Problem(ProblemCode.INVALID_FIELD, str(item["msg"]), path=path))
    return problems
