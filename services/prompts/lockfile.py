"""`prompts.lock`: which version each include by label resolved to when the folder was locked.

A prompt may include another by label (`{name: refund-policy, label: production}`): what it renders
then changes whenever someone moves the label. The lock file, written beside the prompt files by
`mno prompts lock FOLDER` (and rewritten by `pull` when present), records for every prompt file each
include by label with the version the label resolved to on the server and that version's content
hash:

    lock_version: 1
    prompts:
      support:
        includes:
          policy: {name: refund-policy, label: production, version: 3, content_hash: "sha256:..."}
      refund-policy:
        includes: {}

What it is used for:
- `push --locked` saves every prompt with its label includes pinned to the locked versions
  (`{name, version}`), so what was reviewed is what renders; it refuses a lock that does not cover
  the folder's label includes (`stale`), so nothing is saved half-pinned.
- `status` reports lock drift (exit 1) when a locked label now resolves to another version (or to
  none), naming the prompt, the include, the locked and the current version.

Includes by version are already pinned and are not in the lock. Everything here is pure: the
server's labels and hashes come in as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.prompts.documents import load_yaml
from services.prompts.model import LABEL_NAME, PROMPT_NAME, Include, PromptDocument, pydantic_problems
from services.prompts.problems import Problem, ProblemCode, PromptError

LOCK_FILE = "prompts.lock"
LOCK_VERSION = 1
CONTENT_HASH = r"^sha256:[0-9a-f]{64}$"


class LockedInclude(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=PROMPT_NAME.pattern)
    label: str = Field(pattern=LABEL_NAME.pattern)
    version: int = Field(ge=1)
    content_hash: str = Field(pattern=CONTENT_HASH)


class LockedPrompt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    includes: dict[str, LockedInclude] = Field(default_factory=dict)


class Lock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lock_version: int = LOCK_VERSION
    prompts: dict[str, LockedPrompt] = Field(default_factory=dict)


@dataclass(frozen=True)
class ServerPrompt:
    """What the server says of one prompt: its labels' versions and each version's content hash."""

    labels: Mapping[str, int]
    hashes: Mapping[int, str]


@dataclass(frozen=True)
class Drift:
    prompt: str
    include: str
    name: str
    label: str
    locked: int
    current: int | None  # None: the label (or the prompt) is gone

    def describe(self) -> str:
        now = f"v{self.current}" if self.current is not None else "nothing"
        return (
            f"lock drift: {self.prompt} include {self.include} ({self.name}@{self.label}): "
            f"locked v{self.locked}, now {now}"
        )


def label_includes(document: PromptDocument) -> dict[str, Include]:
    return {alias: inc for alias, inc in sorted(document.includes.items()) if inc.label is not None}


def build(documents: Mapping[str, PromptDocument], server: Mapping[str, ServerPrompt]) -> Lock:
    """The lock of a folder now: every include by label resolved through `server`. A label that does
    not resolve (prompt or label unknown on the server) is a problem: push the included prompt first."""
    prompts: dict[str, LockedPrompt] = {}
    problems: list[Problem] = []
    for name, document in sorted(documents.items()):
        locked: dict[str, LockedInclude] = {}
        for alias, include in label_includes(document).items():
            assert include.label is not None
            remote = server.get(include.name)
            version = remote.labels.get(include.label) if remote is not None else None
            content = remote.hashes.get(version) if remote is not None and version is not None else None
            if remote is None or version is None or content is None:
                problems.append(
                    Problem(
                        ProblemCode.INCLUDE_NOT_FOUND,
                        f"{include.describe()} does not resolve on the server",
                        path=f"{name}.includes.{alias}",
                        names=(name, alias),
                    )
                )
                continue
            locked[alias] = LockedInclude(
                name=include.name, label=include.label, version=version, content_hash=content
            )
        prompts[name] = LockedPrompt(includes=locked)
    if problems:
        raise PromptError(problems)
    return Lock(prompts=prompts)


def dump(lock: Lock) -> str:
    header = "# Written by `mno prompts lock`: the versions the include labels resolved to. Do not edit.\n"
    body = {
        "lock_version": lock.lock_version,
        "prompts": {
            name: {"includes": {a: i.model_dump() for a, i in p.includes.items()}}
            for name, p in sorted(lock.prompts.items())
        },
    }
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def read(text: str) -> Lock:
    """A lock file's text, checked (strict YAML, known fields, supported version), or a PromptError."""
    data = load_yaml(text, LOCK_FILE)
    if not isinstance(data, dict):
        raise PromptError([Problem(ProblemCode.INVALID_FIELD, "a lock file is a mapping", path=LOCK_FILE)])
    if data.get("lock_version") != LOCK_VERSION:
        raise PromptError(
            [
                Problem(
                    ProblemCode.INVALID_FIELD,
                    f"lock_version {data.get('lock_version')!r} is not {LOCK_VERSION}",
                    path="lock_version",
                )
            ]
        )
    try:
        return Lock.model_validate(data)
    except ValidationError as error:
        raise PromptError(pydantic_problems(error)) from None


def stale(lock: Lock, documents: Mapping[str, PromptDocument]) -> list[str]:
    """Why the lock does not describe the folder's label includes (empty when it does): an include
    added, removed or pointed elsewhere since it was written."""
    reasons = []
    for name, document in sorted(documents.items()):
        entry = lock.prompts.get(name)
        wanted = {a: (i.name, i.label) for a, i in label_includes(document).items()}
        have = {a: (i.name, i.label) for a, i in entry.includes.items()} if entry is not None else {}
        if entry is None and not wanted:
            continue
        for alias in sorted(wanted.keys() | have.keys()):
            if wanted.get(alias) != have.get(alias):
                reasons.append(f"{name} include {alias} is not as locked")
    return reasons


def pinned(document: PromptDocument, lock: Lock) -> PromptDocument:
    """The document with each include by label replaced by the locked version (call `stale` first)."""
    entry = lock.prompts.get(document.name)
    if entry is None or not entry.includes:
        return document
    includes = dict(document.includes)
    for alias, locked in entry.includes.items():
        includes[alias] = Include(name=locked.name, version=locked.version)
    return document.model_copy(update={"includes": includes})


def drift(lock: Lock, labels: Mapping[str, Mapping[str, int]]) -> list[Drift]:
    """Each locked include whose label now resolves to another version (or none), by prompt and alias."""
    found = []
    for name, entry in sorted(lock.prompts.items()):
        for alias, locked in sorted(entry.includes.items()):
            current = labels.get(locked.name, {}).get(locked.label)
            if current != locked.version:
                found.append(Drift(name, alias, locked.name, locked.label, locked.version, current))
    return found
