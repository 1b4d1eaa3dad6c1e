"""A team's prompt repository on the wire (`/api/v1/prompts/-/repository`): the GitHub repository,
branch and folder whose `*.yaml` files a push syncs into the team's prompts, and how the last sync
went (served by the SuperAgent itself: `services/prompt_sync`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.messages.fields import MultilineText, Text

# GitHub's own rules: an owner is 1-39 letters, digits and single hyphens; a repository name is
# letters, digits, `.`, `-` and `_` (at most 100).
RepositoryName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
]
# A branch name as `git check-ref-format --branch` accepts it, in the characters people use.
BranchName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]{1,255}$")]
# A folder of the repository: relative, `/`-separated, no `.` or `..` segment.
FolderPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$", max_length=255)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectRepository(_Model):
    """Connect (or re-point) the team's prompt repository."""

    repository: RepositoryName
    branch: BranchName = "main"
    folder: FolderPath = "prompts"

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if (
            value.startswith(("/", "-", "."))
            or value.endswith(("/", ".", ".lock"))
            or ".." in value
            or "//" in value
        ):
            raise ValueError("not a branch name git accepts")
        return value

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError("the folder is a path inside the repository, without . or .. segments")
        return value


class RepositoryQuery(_Model):
    """The team's prompt repository (the principal's team)."""


class SyncFileError(_Model):
    path: Text
    code: Text
    message: MultilineText


class SyncedPrompt(_Model):
    path: Text
    name: Text
    version: int
    created: bool


class PromptSyncState(_Model):
    """The last push applied: its head commit, when, which delivery, what it saved, what it refused."""

    sha: Text
    synced_at: datetime
    delivery_guid: Text | None
    pusher: Text | None
    saved: list[SyncedPrompt] = Field(default_factory=list)
    errors: list[SyncFileError] = Field(default_factory=list)


class PromptRepositoryInfo(_Model):
    repository: Text
    repository_id: int
    installation_id: int
    branch: Text
    folder: Text
    connected_by: Text
    connected_at: datetime
    last_sync: PromptSyncState | None


class RepositoryDisconnected(_Model):
    repository: Text


class OpenPullRequest(_Model):
    """Propose a version of a prompt (by `label`, `latest` when neither is given, or `version`) to the
    team's prompt repository as a pull request changing `<folder>/<name>.yaml`."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")]
    label: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")] | None = None
    version: Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)] | None = None


class PullRequestOpened(_Model):
    repository: Text
    number: int
    url: Text
    branch: Text
    base: Text
    path: Text
    name: Text
    version: int
    commit_sha: Text
