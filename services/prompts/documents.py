"""The `prompts/*.yaml` file format, the checks every saved document passes, and the content hash.

A file holds one prompt:

    name: support-answer            # must equal the file's stem
    type: chat                      # or text, with `template:` instead of `messages:`
    commit_message: Shorter system prompt   # optional; the sync uses the git commit's otherwise
    tags: [support]
    variables:
      question: {type: string}
      tone: {type: enum, values: [formal, casual], default: formal}
      examples: {type: list, required: false}
    includes:
      policy: {name: refund-policy, label: production}   # or version: 3
    config: {model: gpt-4o-mini, temperature: 0.2}
    messages:
      - {role: system, content: "{{ include.policy }} Answer in a {{ tone }} tone."}
      - {role: user, content: "{{ question }}"}

YAML is read by PyYAML's safe loader, further restricted: anchors and aliases (the "billion
laughs"), duplicate keys (YAML keeps the last one silently), tags (`!!python/...` and `!!binary`
alike), values that are not JSON (dates, NaN, infinities) and files over `MAX_FILE_BYTES` are
refused. Unchanged content gives the same hash whatever the key order, quoting, comments or
`1` vs `1.0`, so a push of an unchanged file makes no version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import JsonValue, ValidationError

from services.prompts.model import PromptDocument, pydantic_problems
from services.prompts.problems import Problem, ProblemCode, PromptError
from services.prompts.sandbox import analyse

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32

# Our own checks of the keys every provider shares; a team's schema (if declared) applies as well.
BASE_CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "max_tokens": {"type": "integer", "minimum": 1},
        "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 16},
    },
}


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _Refused("aliases (*name) are not allowed", event.start_mark)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None) is not None:
            raise _Refused("anchors (&name) are not allowed", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise _Refused(f"tags ({tag}) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(f"keys are strings, not {type(key).__name__}", key_node.start_mark)
            if key in seen:
                raise _Refused(f"the key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1's timestamps would become datetimes: keep them as the text that was written.
def _timestamp_as_text(loader: _StrictLoader, node: yaml.Node) -> str:
    return str(node.value)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class _Refused(Exception):
    def __init__(self, reason: str, mark: yaml.Mark | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = mark.line + 1 if mark is not None else 0


def load_yaml(text: str, path: str = "") -> Any:
    """One YAML document as JSON-compatible data, or a PromptError saying where it went wrong."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise PromptError([Problem(ProblemCode.TOO_LARGE, f"over {MAX_FILE_BYTES} bytes", path=path)])
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except _Refused as refused:
        raise PromptError(
            [Problem(ProblemCode.YAML_NOT_ALLOWED, f"line {refused.line}: {refused.reason}", path=path)]
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        code = (
            ProblemCode.YAML_NOT_ALLOWED
            if isinstance(error, yaml.constructor.ConstructorError)
            else (ProblemCode.INVALID_YAML)
        )
        raise PromptError([Problem(code, f"{where}{reason}", path=path)]) from None
    except RecursionError:
        raise PromptError([Problem(ProblemCode.TOO_LARGE, "nested too deeply", path=path)]) from None
    problem = _not_json(data, path, 0)
    if problem is not None:
        raise PromptError([problem])
    return data


def _not_json(value: object, path: str, depth: int) -> Problem | None:
    if depth > MAX_DEPTH:
        return Problem(ProblemCode.TOO_LARGE, f"nested deeper than {MAX_DEPTH} levels", path=path)
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(ProblemCode.YAML_NOT_ALLOWED, "NaN and infinities are not JSON", path=path)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _not_json(item, f"{path}.{key}" if path else str(key), depth + 1)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problem = _not_json(item, f"{path}[{i}]", depth + 1)
            if problem is not None:
                return problem
    elif not isinstance(value, str | int | float | bool | type(None)):
        return Problem(ProblemCode.YAML_NOT_ALLOWED, f"{type(value).__name__} is not JSON", path=path)
    return None


def parse_file(path: str, text: str, config_schema: Mapping[str, Any] | None = None) -> PromptDocument:
    """A `prompts/<name>.yaml` file as a checked document (`check_document`), or every problem."""
    data = load_yaml(text, path)
    if not isinstance(data, dict):
        raise PromptError([Problem(ProblemCode.INVALID_FIELD, "the file holds one mapping", path=path)])
    stem = PurePosixPath(path).stem
    data.setdefault("name", stem)
    if data["name"] != stem:
        raise PromptError(
            [
                Problem(
                    ProblemCode.NAME_MISMATCH, f"name {data['name']!r} is not the file's {stem!r}", path=path
                )
            ]
        )
    document = parse_document(data)
    check_document(document, config_schema)
    return document


def parse_folder(
    files: Mapping[str, str], config_schema: Mapping[str, Any] | None = None
) -> dict[str, PromptDocument]:
    """Every `*.yaml` / `*.yml` file of a folder by prompt name; problems of all files at once."""
    documents: dict[str, PromptDocument] = {}
    problems: list[Problem] = []
    for path in sorted(files):
        if PurePosixPath(path).suffix not in {".yaml", ".yml"}:
            continue
        try:
            document = parse_file(path, files[path], config_schema)
        except PromptError as error:
            problems.extend(
                p if p.path.startswith(path) else Problem(p.code, p.message, f"{path}: {p.path}", p.names)
                for p in error.problems
            )
            continue
        if document.name in documents:
            problems.append(
                Problem(ProblemCode.DUPLICATE_NAME, f"{document.name!r} is defined twice", path=path)
            )
        documents[document.name] = document
    if problems:
        raise PromptError(problems)
    return documents


def parse_document(data: Mapping[str, Any]) -> PromptDocument:
    try:
        return PromptDocument.model_validate(data)
    except ValidationError as error:
        raise PromptError(pydantic_problems(error)) from None


def check_document(document: PromptDocument, config_schema: Mapping[str, Any] | None = None) -> None:
    """What a document must satisfy to be saved, whichever way it came (file, API, dashboard): its
    templates parse and use only declared variables and includes; its config passes our schema and
    the team's."""
    problems: list[Problem] = []
    for path, source in document.templates():
        try:
            info = analyse(source, path)
        except PromptError as error:
            problems.extend(error.problems)
            continue
        for name in sorted(info.variables - document.variables.keys()):
            problems.append(
                Problem(ProblemCode.UNDECLARED_VARIABLE, f"`{name}` is used but not declared", path, (name,))
            )
        for alias in sorted(info.includes - document.includes.keys()):
            problems.append(
                Problem(ProblemCode.UNDECLARED_INCLUDE, f"`include.{alias}` is not declared", path, (alias,))
            )
    problems.extend(config_problems(document.config, config_schema))
    if problems:
        raise PromptError(problems)


def config_problems(config: Mapping[str, JsonValue], team_schema: Mapping[str, Any] | None) -> list[Problem]:
    problems = _schema_problems(config, BASE_CONFIG_SCHEMA)
    if team_schema is not None:
        schema_problem = check_config_schema(team_schema)
        if schema_problem is not None:
            return [*problems, schema_problem]
        problems.extend(_schema_problems(config, team_schema))
    return problems


def check_config_schema(schema: Mapping[str, Any]) -> Problem | None:
    """A team's config schema, checked when the team declares it (and again before use)."""
    # Imported here: jsonschema's format checkers take ~2 s to import (rfc3987-syntax builds a grammar),
    # which every `mno prompts` run would pay for files that declare no config at all.
    import jsonschema

    try:
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator_class.check_schema(dict(schema))
    except jsonschema.SchemaError as error:
        return Problem(ProblemCode.INVALID_CONFIG_SCHEMA, error.message, path="config_schema")
    return None


def _schema_problems(config: Mapping[str, JsonValue], schema: Mapping[str, Any]) -> list[Problem]:
    import jsonschema  # see check_config_schema
    import referencing.exceptions

    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    # No registry of remote documents: a $ref to a URL is unresolvable, never fetched.
    validator = validator_class(schema)
    try:
        errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.path))
    except referencing.exceptions.Unresolvable as error:
        return [
            Problem(ProblemCode.INVALID_CONFIG_SCHEMA, f"unresolvable $ref: {error}", path="config_schema")
        ]
    return [
        Problem(
            ProblemCode.INVALID_CONFIG,
            error.message,
            path="config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path),
        )
        for error in errors
    ]


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, UTF-8 kept, integral floats as integers: equal content, equal text."""
    return json.dumps(
        _normalised(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _normalised(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    return value


def content_hash(document: PromptDocument) -> str:
    """sha256 of what makes a version: type, body, variables, includes, config (name, tags and the
    commit message are not content: retagging or re-describing makes no version)."""
    content = document.model_dump(mode="json", exclude={"name", "tags", "commit_message"}, exclude_none=True)
    return "sha256:" + hashlib.sha256(canonical_json(content).encode()).hexdigest()
