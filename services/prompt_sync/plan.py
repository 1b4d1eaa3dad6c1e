"""The pure decisions of the sync: which pushes concern a connection, which files of the pushed
tree are its prompt files, which of them changed since the last sync, and what is recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict

SUFFIXES = frozenset({".yaml", ".yml"})
ZERO_SHA = "0" * 40
MAX_COMMIT_MESSAGE = 2000


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PushRepository(_Payload):
    id: int
    full_name: str


class PushInstallation(_Payload):
    id: int


class PushSender(_Payload):
    id: int
    login: str


class PushCommit(_Payload):
    id: str
    message: str = ""


class PushEvent(_Payload):
    """The fields of GitHub's `push` webhook payload the sync reads."""

    ref: str
    before: str = ZERO_SHA
    after: str
    deleted: bool = False
    repository: PushRepository
    installation: PushInstallation | None = None
    sender: PushSender | None = None
    head_commit: PushCommit | None = None


def branch_of(ref: str) -> str | None:
    """The branch a pushed ref names (`refs/heads/<branch>`); None for tags and other refs."""
    prefix = "refs/heads/"
    return ref[len(prefix) :] if ref.startswith(prefix) and len(ref) > len(prefix) else None


@dataclass(frozen=True)
class TreeFile:
    path: str
    sha: str
    size: int | None


def folder_files(entries: list[TreeFile], folder: str) -> dict[str, TreeFile]:
    """The prompt files of `folder`: its direct `*.yaml` / `*.yml` blobs (the `mno prompts push`
    folder format: one prompt per file, named after the prompt), by path."""
    found: dict[str, TreeFile] = {}
    for entry in entries:
        path = PurePosixPath(entry.path)
        if str(path.parent) == folder and path.suffix in SUFFIXES:
            found[entry.path] = entry
    return dict(sorted(found.items()))


def changed_files(files: Mapping[str, TreeFile], synced_blobs: Mapping[str, str]) -> list[TreeFile]:
    """The files whose blob differs from the one last synced without a problem: all of them the first
    time, and a file that failed before at every push (it has no entry), so its error stays shown
    until it is fixed."""
    return [file for path, file in files.items() if synced_blobs.get(path) != file.sha]


def next_synced_blobs(
    files: Mapping[str, TreeFile], previous: Mapping[str, str], synced: set[str]
) -> dict[str, str]:
    """The blob of every file as it now stands synced: the ones synced in this push, and the unchanged
    ones synced before; files gone from the folder, and files that failed, are dropped."""
    kept: dict[str, str] = {}
    for path, file in files.items():
        if path in synced or previous.get(path) == file.sha:
            kept[path] = file.sha
    return kept


def commit_message(repository: str, head: PushCommit | None, sha: str) -> str:
    """What a synced version records as its commit message: the head commit's message and where it
    comes from (`<message>\\n\\n<owner/name>@<sha>`), within the version's 2000 characters."""
    suffix = f"{repository}@{sha}"
    message = (head.message if head is not None else "").strip()
    if not message:
        return suffix
    room = MAX_COMMIT_MESSAGE - len(suffix) - 2
    if len(message) > room:
        message = message[: room - 1].rstrip() + "…"
    return f"{message}\n\n{suffix}"


def github_author(login: str) -> str:
    """The author a version records for a pusher who is no member of the team."""
    return f"github:{login}"


def prompt_file(document: Mapping[str, object]) -> str:
    """A version's document as its `prompts/<name>.yaml` file, as `mno prompts pull` writes it less
    what equals the defaults (empty tags, config, includes, variable descriptions): the same content
    hash, a smaller diff. The commit message is the git commit's, not the file's."""
    content: dict[str, object] = {}
    for key, value in document.items():
        if key == "commit_message" or value is None or value in ({}, [], ""):
            continue
        if key == "variables" and isinstance(value, Mapping):
            value = {
                name: {k: v for k, v in spec.items() if not (k == "description" and v == "")}
                if isinstance(spec, Mapping)
                else spec
                for name, spec in value.items()
            }
        content[key] = value
    return yaml.safe_dump(content, sort_keys=False, allow_unicode=True)


def git_blob_sha(content: bytes) -> str:
    """The SHA-1 git names a blob of these bytes by (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def prompt_path(files: Mapping[str, TreeFile], folder: str, name: str) -> str:
    """Where the prompt's file is in the folder (`.yml` if that is what it has), else `<name>.yaml`."""
    for suffix in (".yaml", ".yml"):
        if f"{folder}/{name}{suffix}" in files:
            return f"{folder}/{name}{suffix}"
    return f"{folder}/{name}.yaml"
