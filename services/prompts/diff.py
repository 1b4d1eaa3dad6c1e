"""Two versions of a prompt compared: the text as a unified diff (difflib), chat prompts message by
message (messages aligned by difflib's matcher over (role, content), so an inserted message shows
as one insertion, not as every later message changed), and variables, includes and config key by
key (nested config keys as dotted paths)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from services.prompts.documents import canonical_json
from services.prompts.model import Message, PromptDocument


class Change(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class MessageChange:
    change: Change
    old_index: int | None
    new_index: int | None
    old_role: str | None
    new_role: str | None
    unified: str


@dataclass(frozen=True)
class KeyChange:
    key: str
    change: Change
    old: object
    new: object


@dataclass(frozen=True)
class PromptDiff:
    old_version: int
    new_version: int
    type_changed: bool
    text: str  # unified diff of text prompts (or of the whole body when the type changed)
    messages: tuple[MessageChange, ...]
    variables: tuple[KeyChange, ...]
    includes: tuple[KeyChange, ...]
    config: tuple[KeyChange, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.type_changed or self.text or self.messages or self.variables or self.includes or self.config
        )


def _unified(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name, n=3
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def _body(document: PromptDocument) -> str:
    if document.template is not None:
        return document.template
    return "\n".join(f"[{m.role}]\n{m.content}" for m in document.messages or ())


def _messages(
    old: tuple[Message, ...], new: tuple[Message, ...], old_v: int, new_v: int
) -> list[MessageChange]:
    changes: list[MessageChange] = []
    matcher = difflib.SequenceMatcher(
        a=[(m.role, m.content) for m in old], b=[(m.role, m.content) for m in new], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            a, b = old[i1 + k], new[j1 + k]
            changes.append(
                MessageChange(
                    Change.CHANGED,
                    i1 + k,
                    j1 + k,
                    a.role,
                    b.role,
                    _unified(a.content, b.content, f"v{old_v}[{i1 + k}]", f"v{new_v}[{j1 + k}]"),
                )
            )
        for i in range(i1 + pairs, i2):
            changes.append(
                MessageChange(
                    Change.REMOVED,
                    i,
                    None,
                    old[i].role,
                    None,
                    _unified(old[i].content, "", f"v{old_v}[{i}]", "/dev/null"),
                )
            )
        for j in range(j1 + pairs, j2):
            changes.append(
                MessageChange(
                    Change.ADDED,
                    None,
                    j,
                    None,
                    new[j].role,
                    _unified("", new[j].content, "/dev/null", f"v{new_v}[{j}]"),
                )
            )
    return changes


def _flatten(value: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, path))
        else:
            flat[path] = item
    return flat


def key_changes(old: Mapping[str, object], new: Mapping[str, object]) -> tuple[KeyChange, ...]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            changes.append(KeyChange(key, Change.REMOVED, old[key], None))
        elif key not in old:
            changes.append(KeyChange(key, Change.ADDED, None, new[key]))
        elif canonical_json(old[key]) != canonical_json(new[key]):
            changes.append(KeyChange(key, Change.CHANGED, old[key], new[key]))
    return tuple(changes)


def _dumped(items: Mapping[str, BaseModel]) -> dict[str, object]:
    return {k: v.model_dump(mode="json", exclude_none=True) for k, v in items.items()}


def diff_versions(old: PromptDocument, new: PromptDocument, old_version: int, new_version: int) -> PromptDiff:
    type_changed = old.type != new.type
    text = ""
    messages: list[MessageChange] = []
    if type_changed or old.template is not None:
        text = _unified(_body(old), _body(new), f"v{old_version}", f"v{new_version}")
    else:
        messages = _messages(old.messages or (), new.messages or (), old_version, new_version)

    return PromptDiff(
        old_version,
        new_version,
        type_changed,
        text,
        tuple(messages),
        key_changes(_dumped(old.variables), _dumped(new.variables)),
        key_changes(_dumped(old.includes), _dumped(new.includes)),
        key_changes(_flatten(old.config), _flatten(new.config)),
    )
