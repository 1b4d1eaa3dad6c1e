"""Prompts as code on the wire: a prompt document as clients send it, versions, labels, rendering,
diffs, approvals and the label policy (served by the LearningAgent, `services/prompts`).

The document models mirror `services/prompts/model.py` for the OpenAPI document and the edge's
field rules (no control characters in names; templates are multi-line text): the agent checks
every document again with the pure core, whose problems come back as a 422 with one detail each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt, StringConstraints

from shared.messages.fields import JsonData, MultilineText, Text

# The core's patterns (services/prompts/model.py), repeated: shared.messages imports nothing of ours.
PromptName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
VersionNumber = Annotated[StrictInt, Field(ge=1, le=2_147_483_647)]
# In a path or a query string every value is text: the digits are read as the number.
PathVersion = Annotated[int, Field(ge=1, le=2_147_483_647)]
Template = Annotated[MultilineText, StringConstraints(max_length=100_000)]
ShortText = Annotated[Text, StringConstraints(max_length=200)]
ContentHash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableSpec(_Model):
    type: Literal["string", "number", "integer", "boolean", "enum", "list", "object"]
    description: Annotated[MultilineText, StringConstraints(max_length=2000)] = ""
    required: StrictBool | None = None
    default: JsonData = None
    values: list[ShortText] | None = Field(default=None, max_length=200)


class MessageSpec(_Model):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Template


class IncludeSpec(_Model):
    """Another prompt by name and exactly one of label or version."""

    name: PromptName
    label: LabelName | None = None
    version: VersionNumber | None = None


class PromptBody(_Model):
    """One version's content as a client writes it (the `prompts/*.yaml` file, as JSON)."""

    name: PromptName
    type: Literal["text", "chat"]
    template: Template | None = None
    messages: list[MessageSpec] | None = Field(default=None, max_length=200)
    variables: dict[ShortText, VariableSpec] = Field(default_factory=dict, max_length=100)
    includes: dict[ShortText, IncludeSpec] = Field(default_factory=dict, max_length=20)
    config: dict[ShortText, JsonData] = Field(default_factory=dict)
    tags: list[ShortText] = Field(default_factory=list, max_length=50)
    commit_message: Annotated[MultilineText, StringConstraints(max_length=2000)] | None = None


class SavePrompt(PromptBody):
    """Save a version: a new one when the content differs from the latest version's, else the latest
    is answered (`created: false`)."""


class PromptVersionInfo(_Model):
    name: PromptName
    version: VersionNumber
    type: Literal["text", "chat"]
    content_hash: ContentHash
    author: Text
    commit_message: MultilineText | None
    created_at: datetime
    labels: list[LabelName]
    document: PromptBody


class SavedPrompt(_Model):
    created: bool
    prompt: PromptVersionInfo


class PromptSummary(_Model):
    name: PromptName
    type: Literal["text", "chat"]
    tags: list[Text]
    latest_version: VersionNumber
    latest_content_hash: ContentHash
    labels: dict[LabelName, VersionNumber]
    updated_at: datetime


class ListPrompts(_Model):
    tag: ShortText | None = None


class PromptList(_Model):
    items: list[PromptSummary]


class PromptRef(_Model):
    name: PromptName


class VersionSummary(_Model):
    version: VersionNumber
    content_hash: ContentHash
    author: Text
    commit_message: MultilineText | None
    created_at: datetime
    labels: list[LabelName]


class VersionList(_Model):
    name: PromptName
    type: Literal["text", "chat"]
    labels: dict[LabelName, VersionNumber]
    items: list[VersionSummary]


class PromptLookup(_Model):
    """A version by label (`latest` when neither is given) or by number."""

    name: PromptName
    label: LabelName | None = None
    version: PathVersion | None = None


class RenderPrompt(_Model):
    """A stored version by `label` or `version`; or, with `document`, that unsaved content (a draft of
    the prompt's next version, named as the path names it): rendered the same way, nothing saved."""

    name: PromptName
    label: LabelName | None = None
    version: VersionNumber | None = None
    variables: dict[ShortText, JsonData] = Field(default_factory=dict, max_length=200)
    document: PromptBody | None = None


class RenderedMessageInfo(_Model):
    role: Text
    content: MultilineText


class IncludePinInfo(_Model):
    path: list[Text]
    name: PromptName
    version: VersionNumber
    label: LabelName | None
    pinned_version: VersionNumber | None


class RenderedPromptInfo(_Model):
    name: PromptName
    version: VersionNumber
    type: Literal["text", "chat"]
    text: MultilineText | None
    messages: list[RenderedMessageInfo] | None
    config: dict[str, JsonValue]
    # sha256 of what was rendered. Token events carry it as the tag `prompt_hash` beside
    # `prompt_name` and `prompt_version` (the version as text), until experiments give it a column.
    content_hash: ContentHash
    includes: list[IncludePinInfo]


class DiffQuery(_Model):
    """`to_version` defaults to the latest, `from_version` to the one before it."""

    name: PromptName
    from_version: PathVersion | None = None
    to_version: PathVersion | None = None


class MessageChangeInfo(_Model):
    change: Literal["added", "removed", "changed"]
    old_index: int | None
    new_index: int | None
    old_role: Text | None
    new_role: Text | None
    unified: MultilineText


class KeyChangeInfo(_Model):
    key: Text
    change: Literal["added", "removed", "changed"]
    old: JsonValue
    new: JsonValue


class PromptDiffInfo(_Model):
    name: PromptName
    from_version: VersionNumber
    to_version: VersionNumber
    type_changed: bool
    text: MultilineText
    messages: list[MessageChangeInfo]
    variables: list[KeyChangeInfo]
    includes: list[KeyChangeInfo]
    config: list[KeyChangeInfo]


class MoveLabel(_Model):
    """Move a label to a version. `expected_version` (the version the mover saw the label on; null:
    on none) makes the move compare-and-set: another move in between answers 409 `stale`."""

    name: PromptName
    label: LabelName
    version: VersionNumber
    expected_version: VersionNumber | None = None
    check_expected: StrictBool = False


class ApproveVersion(_Model):
    name: PromptName
    version: PathVersion


class VersionApproved(_Model):
    name: PromptName
    version: VersionNumber
    approver: Text
    approved_at: datetime


class ImpactQuery(_Model):
    name: PromptName
    label: LabelName


class AffectedPrompt(_Model):
    name: PromptName
    version: VersionNumber
    labels: list[LabelName]
    chain: list[Text]


class LabelImpact(_Model):
    name: PromptName
    label: LabelName
    affected: list[AffectedPrompt]


class LabelMoved(_Model):
    name: PromptName
    label: LabelName
    from_version: VersionNumber | None
    to_version: VersionNumber
    changed: bool
    rollback: bool
    protected: bool
    approved_by: Text | None
    # The labelled versions of other prompts that include this label and so render differently now.
    affected: list[AffectedPrompt] = Field(default_factory=list)


class PolicyQuery(_Model):
    pass


class LabelPolicyInfo(_Model):
    protected_labels: list[LabelName] = Field(max_length=50)
    require_second_approver: StrictBool
    require_passing_evaluation: StrictBool


class PromptsChanged(_Model):
    """Broadcast by the LearningAgent after a change commits that alters what a prompt read answers
    (a new version, a label move): edges drop the team's cached prompt answers."""

    team_id: Text
    name: PromptName


class ConfigSchemaQuery(_Model):
    pass


class ConfigSchemaInfo(_Model):
    """The team's JSON Schema for its prompts' `config` (null: none, our base schema alone). Every save
    checks the config against both; declaring one does not re-check versions already saved."""

    config_schema: dict[ShortText, JsonData] | None


class PromptQuota(_Model):
    """The plan's `prompts` limit for the saver's account, set by the edge (plans are the
    SuperAgent's); the LearningAgent, which knows what is stored, enforces it when a save creates a
    prompt."""

    account_id: Text
    team_ids: list[Text]
    max_prompts: int
    plan: Text


class SavePromptRequest(_Model):
    prompt: SavePrompt
    quota: PromptQuota | None = None


# services/prompts/documents.py's MAX_FILE_BYTES, repeated (shared.messages imports nothing of ours).
MAX_PROMPT_FILE_BYTES = 256 * 1024


class ImportPromptFile(_Model):
    """One `prompts/*.yaml` file's text as a repository holds it: the LearningAgent parses and checks
    it as `mno prompts push` does (the file's own `commit_message` wins over `commit_message` here),
    then saves it like `SavePromptRequest` (no version when the content hash is unchanged). The
    GitHub sync sends these; a file's problems come back as a 422 with one detail each."""

    path: Annotated[Text, StringConstraints(min_length=1, max_length=1000)]
    content: Annotated[MultilineText, StringConstraints(max_length=MAX_PROMPT_FILE_BYTES)]
    commit_message: Annotated[MultilineText, StringConstraints(max_length=2000)] | None = None
    quota: PromptQuota | None = None
