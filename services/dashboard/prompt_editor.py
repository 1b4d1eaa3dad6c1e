"""The prompt editor: a new version of a prompt, prefilled from the latest, previewed with sample
values through the API's render path and saved through `POST /api/v1/prompts`.

Pure: the latest version in, the form's rows out; the form's strings in, the API's body (and the
sample values) out, or the form's own problems; an API refusal's details in, each problem in words
under the field it is about (`slot`). The form sends rows as numbered fields (`msg_role_0`,
`var_name_1`, ...): one row more than the version has, for a new message or variable; "Add a
message" / "Add a variable" append more (from a `<template>`, numbered on in the browser).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, TypeAdapter, model_validator

from services.dashboard.prompts import PATH
from shared.messages.fields import MultilineText
from shared.messages.prompts import PromptName, PromptVersionInfo

PREVIEW_PATH = PATH + "/editor/preview"
SAVE_PATH = PATH + "/editor/save"
PULL_REQUEST_PATH = PATH + "/pull-request"
ROLES = ("system", "developer", "user", "assistant", "tool")
TYPES = ("string", "number", "integer", "boolean", "enum", "list", "object")
_TEXTUAL = ("string", "enum")  # a sample of these is the text as typed; others are read as JSON
_FIELD = TypeAdapter(MultilineText)
_ROW = re.compile(r"(msg_(role|content)|var_(name|type|required|default|values|description|sample))_\d{1,3}")


def edit_href(name: str) -> str:
    return f"{PATH}/{quote(name, safe='')}/edit"


class EditQuery(BaseModel):
    """The editor page's path."""

    model_config = ConfigDict(extra="ignore")

    name: PromptName


class PullRequestForm(BaseModel):
    """The prompt page's "Open pull request" button: the latest version of this prompt."""

    model_config = ConfigDict(extra="forbid")

    name: PromptName


class EditorForm(BaseModel):
    """The editor's fields (htmx sends strings); the numbered row fields are the extras, each checked
    as multi-line text."""

    model_config = ConfigDict(extra="allow")

    name: PromptName
    type: str = "text"
    template: MultilineText = ""
    includes: MultilineText = ""
    config: MultilineText = ""
    tags: MultilineText = ""
    commit_message: MultilineText = ""

    @model_validator(mode="after")
    def _rows_are_text(self) -> EditorForm:
        """A numbered field that is not text (a number, a control character) is refused as any field."""
        for key, value in (self.model_extra or {}).items():
            if not _ROW.fullmatch(key):
                raise ValueError(f"unknown field {key}")
            _FIELD.validate_python(value, strict=True)
        return self

    def rows(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


@dataclass(frozen=True)
class MessageRow:
    index: int
    role: str
    content: str


@dataclass(frozen=True)
class VariableRow:
    index: int
    name: str
    type: str
    required: bool
    default: str  # JSON, "" for none
    values: str  # enum values, comma-separated
    description: str
    sample: str


@dataclass(frozen=True)
class Editor:
    name: str
    type: str
    based_on: int  # the version the form was prefilled from
    template: str
    messages: list[MessageRow]
    variables: list[VariableRow]
    includes: str  # JSON object
    config: str  # JSON object
    tags: str
    commit_message: str


BLANK_VARIABLE = VariableRow(-1, "", "string", False, "", "", "", "")  # the "Add a variable" template's


def _sample(spec_type: str, default: Any) -> str:
    if default is None:
        return ""
    return default if spec_type in _TEXTUAL and isinstance(default, str) else json.dumps(default)


def editor(found: PromptVersionInfo) -> Editor:
    """The form prefilled from a version; each variable's sample is its default (blank: none)."""
    doc = found.document
    messages = [MessageRow(i, m.role, m.content) for i, m in enumerate(doc.messages or [])]
    variables = [
        VariableRow(
            i,
            name,
            spec.type,
            bool(spec.required),
            "" if spec.default is None else json.dumps(spec.default),
            ", ".join(spec.values or []),
            spec.description,
            _sample(spec.type, spec.default),
        )
        for i, (name, spec) in enumerate(doc.variables.items())
    ]
    return Editor(
        name=found.name,
        type=doc.type,
        based_on=found.version,
        template=doc.template or "",
        messages=[*messages, MessageRow(len(messages), "user", "")],
        variables=[*variables, VariableRow(len(variables), "", "string", False, "", "", "", "")],
        includes=json.dumps({k: v.model_dump(exclude_none=True) for k, v in doc.includes.items()}, indent=2)
        if doc.includes
        else "",
        config=json.dumps(doc.config, indent=2) if doc.config else "",
        tags=", ".join(doc.tags),
        commit_message="",
    )


@dataclass(frozen=True)
class Problem:
    slot: str  # the field's error slot: template, msg-<i>, var-<i>, includes, config, tags, general
    text: str


@dataclass(frozen=True)
class Draft:
    body: dict[str, Any]  # POST /api/v1/prompts's body
    samples: dict[str, Any]  # the variables to render the preview with
    slots: dict[str, str]  # variable name -> its row's slot
    message_slots: list[str]  # the k-th message sent -> its row's slot (blank rows are not sent)


def _numbered(rows: Mapping[str, str], prefix: str) -> list[int]:
    return sorted(
        int(k.removeprefix(prefix)) for k in rows if k.startswith(prefix) and k[len(prefix) :].isdigit()
    )


def _json(text: str, slot: str, what: str, problems: list[Problem]) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        problems.append(Problem(slot, f"{what} is not JSON"))
        return None


def _object(text: str, slot: str, what: str, problems: list[Problem]) -> dict[str, Any]:
    if not text.strip():
        return {}
    value = _json(text, slot, what, problems)
    if value is not None and not isinstance(value, dict):
        problems.append(Problem(slot, f"{what} must be a JSON object"))
    return value if isinstance(value, dict) else {}


def _variables(
    rows: Mapping[str, str], problems: list[Problem]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    specs: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    slots: dict[str, str] = {}
    for i in _numbered(rows, "var_name_"):
        name = rows[f"var_name_{i}"].strip()
        if not name:
            continue
        slot = f"var-{i}"
        slots[name] = slot
        kind = rows.get(f"var_type_{i}", "string")
        spec: dict[str, Any] = {"type": kind}
        if rows.get(f"var_required_{i}"):
            spec["required"] = True
        if default := rows.get(f"var_default_{i}", "").strip():
            spec["default"] = _json(default, slot, f"the default of `{name}`", problems)
        if values := [v.strip() for v in rows.get(f"var_values_{i}", "").split(",") if v.strip()]:
            spec["values"] = values
        if description := rows.get(f"var_description_{i}", "").strip():
            spec["description"] = description
        specs[name] = spec
        sample = rows.get(f"var_sample_{i}", "")
        if sample.strip():
            # Text as typed for text variables; JSON for others, else the text (the renderer names
            # the mistyped value).
            try:
                samples[name] = sample if kind in _TEXTUAL else json.loads(sample)
            except ValueError:
                samples[name] = sample
    return specs, samples, slots


def draft(form: EditorForm) -> Draft | list[Problem]:
    """The version the form describes, or what in the form is not yet one (JSON that does not parse)."""
    rows = form.rows()
    problems: list[Problem] = []
    specs, samples, slots = _variables(rows, problems)
    body: dict[str, Any] = {
        "name": form.name,
        "type": form.type,
        "variables": specs,
        "includes": _object(form.includes, "includes", "Includes", problems),
        "config": _object(form.config, "config", "Config", problems),
        "tags": [t.strip() for t in form.tags.split(",") if t.strip()],
    }
    sent = [i for i in _numbered(rows, "msg_content_") if rows[f"msg_content_{i}"].strip()]
    if form.type == "chat":
        body["messages"] = [
            {"role": rows.get(f"msg_role_{i}", "user"), "content": rows[f"msg_content_{i}"]} for i in sent
        ]
    else:
        body["template"] = form.template
    if form.commit_message.strip():
        body["commit_message"] = form.commit_message.strip()
    return problems or Draft(body, samples, slots, [f"msg-{i}" for i in sent])


_MESSAGE = re.compile(r"messages\W*(\d+)")
_VARIABLE_CODES = {"missing_variable", "mistyped_variable", "unknown_variable", "conflicting_variable"}


def _slot(detail: Mapping[str, Any], slots: Mapping[str, str], messages: Sequence[str]) -> str:
    code = str(detail.get("type") or "")
    loc = detail.get("loc")
    path = ".".join(str(p) for p in loc) if isinstance(loc, list) else str(loc or "")
    path = path.removeprefix("body.").removeprefix("document.")
    names = [str(n) for n in detail.get("names") or []]
    if code in _VARIABLE_CODES and names and names[0] in slots:
        return slots[names[0]]
    if code.startswith("include_"):
        return "includes"
    if (found := _MESSAGE.match(path)) and int(found[1]) < len(messages):
        return messages[int(found[1])]
    if path.startswith("variables."):
        name = path.split(".")[1]
        if name in slots:
            return slots[name]
    for field in ("template", "includes", "config", "tags", "commit_message", "type"):
        if path.startswith(field):
            return field
    return "general"


def problems(details: Sequence[Mapping[str, Any]], message: str, drafted: Draft) -> list[Problem]:
    """An API refusal's details, each under its field, in words (the API's message, else its type)."""
    if not details:
        return [Problem("general", message)]
    return [
        Problem(
            _slot(d, drafted.slots, drafted.message_slots), str(d.get("message") or d.get("type") or message)
        )
        for d in details
    ]


SLOTS_FIXED = ("template", "includes", "config", "tags", "commit_message", "type", "general")


def slot_ids(form: EditorForm) -> list[str]:
    """Every error slot of the form (each preview clears those without a problem)."""
    rows = form.rows()
    return [
        *SLOTS_FIXED,
        *(f"msg-{i}" for i in _numbered(rows, "msg_content_")),
        *(f"var-{i}" for i in _numbered(rows, "var_name_")),
    ]


def by_slot(found: Sequence[Problem], slots: Sequence[str]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {s: [] for s in slots}
    for p in found:
        shown.setdefault(p.slot if p.slot in shown else "general", []).append(p.text)
    return shown
