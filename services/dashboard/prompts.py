"""The Prompts pages: the team's prompts (filtered by tag), and a prompt with its versions, labels,
a diff of two versions, its test set and evaluation runs, and its experiments.

Pure: the forms' strings in, the API's queries out; `GET /api/v1/prompts/...` answers in, rows out.
A refused label move comes back as the API's error body; `move_problem` says it in words, as
`approve_problem` says a refused approval.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict

from services.dashboard.packages import Blank
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.experiments import ExperimentList
from shared.messages.prompt_evaluations import EvaluationList, TestSetInfo
from shared.messages.prompts import (
    LabelMoved,
    LabelName,
    LabelPolicyInfo,
    PathVersion,
    PromptDiffInfo,
    PromptList,
    PromptName,
    ShortText,
    VersionApproved,
    VersionList,
)

PATH = "/dashboard/prompts"
MOVE_PATH = PATH + "/labels"
APPROVE_PATH = PATH + "/approvals"
EXPERIMENTS_PATH = "/dashboard/experiments"
LATEST = "latest"  # the label every prompt has: its newest version (the API moves it, not people)

# What each refusal of the promotion gate means, for the person who tried the move.
REFUSALS = {
    "approval_required": "an approval of this version by a second person (an owner or admin who is "
    "not its author) is required",
    "approver_is_author": "the approval is by the version's author; another person must approve",
    "approver_is_mover": "the approval is by you, the mover; another person must approve",
    "approver_lacks_permission": "the approver may not promote to protected labels",
    "approval_for_other_version": "the approval is for another version",
    "evaluation_required": "a passing evaluation run of this version is required",
    "evaluation_failed": "the newest evaluation run of this version did not pass",
    "protected_permission_missing": "moving a protected label needs prompts:promote_protected "
    "(owners and admins)",
    "permission_missing": "you may not move labels (prompts:promote)",
    "stale": "someone moved this label since the page was loaded; reload and try again",
    "unknown_version": "there is no such version",
    "label_reserved": "`latest` always names the newest version and cannot be moved",
    "invalid_label": "that is not a valid label name",
    "approver_not_a_person": "an approval is a person's; this API key has no creator to approve as",
}


class ListForm(BaseModel):
    """The Prompts page's query string: one tag to filter by."""

    model_config = ConfigDict(extra="ignore")

    tag: Annotated[ShortText | None, Blank] = None


class PromptQuery(BaseModel):
    """The prompt page's path and query: the two versions to compare (default: the newest two)."""

    model_config = ConfigDict(extra="ignore")

    name: PromptName
    from_version: Annotated[PathVersion | None, Blank] = None
    to_version: Annotated[PathVersion | None, Blank] = None


class MoveForm(BaseModel):
    """The label-move form (htmx sends fields as strings). `expected_version`: the version the page
    showed the label on (none: a new label), so a move made in between is refused, not overwritten."""

    model_config = ConfigDict(extra="forbid")

    name: PromptName
    label: LabelName
    version: PathVersion
    expected_version: Annotated[PathVersion | None, Blank] = None

    def body(self) -> dict[str, Any]:
        """`PUT /api/v1/prompts/{name}/labels/{label}`'s fields, compare-and-set."""
        return {
            "name": self.name,
            "label": self.label,
            "version": self.version,
            "expected_version": self.expected_version,
            "check_expected": True,
        }


class ApproveForm(BaseModel):
    """The approve button of a version (htmx sends fields as strings): an approval of it for
    protected labels, by a person other than its author."""

    model_config = ConfigDict(extra="forbid")

    name: PromptName
    version: PathVersion

    def body(self) -> dict[str, Any]:
        """`POST /api/v1/prompts/{name}/versions/{version}/approvals`'s fields."""
        return {"name": self.name, "version": self.version}


def prompt_href(name: str, **query: int | None) -> str:
    path = f"{PATH}/{quote(name, safe='')}"
    fields = {k: v for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(fields)}" if fields else path


def experiment_href(experiment_id: str) -> str:
    return f"{EXPERIMENTS_PATH}/{quote(experiment_id, safe='')}"


def short_hash(content_hash: str) -> str:
    """sha256:0123456789ab… → 0123456789ab (the whole hash stays in the page for copying)."""
    return content_hash.removeprefix("sha256:")[:12]


def who(actor: str, people: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """A person's login, an API key's name (`key:<id>`), else the id as the API gave it."""
    if actor.startswith("key:"):
        key_id = actor.removeprefix("key:")
        return f"key {keys[key_id]}" if key_id in keys else actor
    return people.get(actor, actor)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


# -- the list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptRow:
    name: str
    type: str
    tags: tuple[tuple[str, str], ...]  # (tag, the list filtered by it)
    latest_version: int
    content_hash: str
    short_hash: str
    labels: tuple[tuple[str, int], ...]  # besides `latest`, by name
    updated_at: datetime
    href: str


def tag_href(tag: str) -> str:
    return f"{PATH}?{urlencode({'tag': tag})}"


def prompt_rows(found: PromptList) -> list[PromptRow]:
    return [
        PromptRow(
            name=p.name,
            type=p.type,
            tags=tuple((t, tag_href(t)) for t in p.tags),
            latest_version=p.latest_version,
            content_hash=p.latest_content_hash,
            short_hash=short_hash(p.latest_content_hash),
            labels=tuple(sorted((label, v) for label, v in p.labels.items() if label != LATEST)),
            updated_at=p.updated_at,
            href=prompt_href(p.name),
        )
        for p in sorted(found.items, key=lambda p: p.name)
    ]


# -- a prompt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: int
    author: str
    commit_message: str | None
    created_at: datetime
    content_hash: str
    short_hash: str
    labels: tuple[str, ...]
    previous: int | None  # the version before it
    diff_href: str | None  # this version against the previous one


def version_rows(found: VersionList, people: Mapping[str, str], keys: Mapping[str, str]) -> list[VersionRow]:
    numbers = sorted(v.version for v in found.items)
    before = dict(zip(numbers[1:], numbers, strict=False))
    return [
        VersionRow(
            version=v.version,
            author=who(v.author, people, keys),
            commit_message=v.commit_message,
            created_at=v.created_at,
            content_hash=v.content_hash,
            short_hash=short_hash(v.content_hash),
            labels=tuple(sorted(v.labels)),
            previous=before.get(v.version),
            diff_href=(
                prompt_href(found.name, from_version=before[v.version], to_version=v.version) + "#diff"
                if v.version in before
                else None
            ),
        )
        for v in found.items
    ]


@dataclass(frozen=True)
class LabelRow:
    label: str
    version: int
    protected: bool
    movable: bool  # `latest` follows the newest version by itself


def label_rows(found: VersionList, policy: LabelPolicyInfo | None) -> list[LabelRow]:
    """`latest` first, then the others by name; protected ones marked (when the policy was read)."""
    protected = set(policy.protected_labels) if policy else set()
    ordered = sorted(found.labels.items(), key=lambda item: (item[0] != LATEST, item[0]))
    return [LabelRow(label, v, label in protected, label != LATEST) for label, v in ordered]


def diff_versions(
    found: VersionList, wanted_from: int | None, wanted_to: int | None
) -> tuple[int, int] | None:
    """The pair to compare: as asked, else the newest and the one before it (the API's defaults);
    None while the prompt has a single version."""
    numbers = sorted(v.version for v in found.items)
    if len(numbers) < 2:
        return None
    to = wanted_to if wanted_to in numbers else numbers[-1]
    older = [n for n in numbers if n < to] or [n for n in numbers if n != to][:1]
    return (wanted_from if wanted_from in numbers else older[-1]), to


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add, del, hunk, head, context
    text: str


def diff_lines(unified: str) -> list[DiffLine]:
    """A unified diff's lines, each with what it is (the template colours them by class)."""
    lines = []
    for line in unified.splitlines():
        if line.startswith(("+++", "---")):
            kind = "head"
        elif line.startswith(("@@", "\\")):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "context"
        lines.append(DiffLine(kind, line))
    return lines


@dataclass(frozen=True)
class KeyChange:
    section: str  # variables, includes, config
    key: str
    change: str
    old: str
    new: str


@dataclass(frozen=True)
class DiffView:
    from_version: int
    to_version: int
    type_changed: bool
    text: list[DiffLine]
    messages: list[tuple[str, list[DiffLine]]]  # (which message, its lines)
    keys: list[KeyChange]

    @property
    def same(self) -> bool:
        return not (self.type_changed or self.text or self.messages or self.keys)


def _shown(value: Any) -> str:
    return "—" if value is None else json.dumps(value, sort_keys=True)


def diff_view(diff: PromptDiffInfo) -> DiffView:
    messages = [
        (
            f"message {(m.new_index if m.new_index is not None else m.old_index or 0) + 1} "
            f"({m.new_role or m.old_role}): {m.change}",
            diff_lines(m.unified),
        )
        for m in diff.messages
    ]
    keys = [
        KeyChange(section, c.key, c.change, _shown(c.old), _shown(c.new))
        for section, changes in (
            ("variables", diff.variables),
            ("includes", diff.includes),
            ("config", diff.config),
        )
        for c in changes
    ]
    return DiffView(
        diff.from_version, diff.to_version, diff.type_changed, diff_lines(diff.text), messages, keys
    )


@dataclass(frozen=True)
class SuiteSummary:
    """The test set's summary (its cases are read by the CLI and the API, not listed here)."""

    revision: int
    cases: int
    min_pass_rate: str
    assertions: int
    updated_by: str
    updated_at: datetime


def suite_summary(found: TestSetInfo, people: Mapping[str, str], keys: Mapping[str, str]) -> SuiteSummary:
    return SuiteSummary(
        revision=found.revision,
        cases=len(found.test_set.cases),
        min_pass_rate=percent(found.test_set.min_pass_rate),
        assertions=sum(len(c.assertions) for c in found.test_set.cases),
        updated_by=who(found.updated_by, people, keys),
        updated_at=found.updated_at,
    )


@dataclass(frozen=True)
class EvaluationRow:
    id: str
    version: int
    status: str  # running, passed, failed (below the minimum), error (the run could not finish)
    model: str
    pass_rate: str
    min_pass_rate: str
    cases: int
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


def evaluation_rows(
    found: EvaluationList, people: Mapping[str, str], keys: Mapping[str, str]
) -> list[EvaluationRow]:
    def status(passed: bool | None, state: str) -> str:
        if state == "finished":
            return "passed" if passed else "failed"
        return "error" if state == "failed" else state

    return [
        EvaluationRow(
            id=r.id,
            version=r.version,
            status=status(r.passed, r.status),
            model=r.model,
            pass_rate=percent(r.pass_rate),
            min_pass_rate=percent(r.min_pass_rate),
            cases=r.cases_total,
            started_by=who(r.started_by, people, keys),
            started_at=r.started_at,
            finished_at=r.finished_at,
            error=r.error,
        )
        for r in found.items
    ]


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    name: str
    status: str
    variants: str  # "control v1 · b v3"
    created_at: datetime
    href: str


def experiment_rows(found: ExperimentList) -> list[ExperimentRow]:
    return [
        ExperimentRow(
            id=e.id,
            name=e.name,
            status=e.status,
            variants=" · ".join(f"{v.key} v{v.version}" for v in e.variants),
            created_at=e.created_at,
            href=experiment_href(e.id),
        )
        for e in found.items
    ]


def move_done(moved: LabelMoved) -> str:
    """A label move in words, with the prompts that include the label and so render differently."""
    if not moved.changed:
        return f"{moved.label} already pointed at version {moved.to_version}."
    said = (
        f"{moved.label} now points at version {moved.to_version}"
        + (f" (was {moved.from_version})" if moved.from_version is not None else "")
        + ("; a rollback" if moved.rollback else "")
        + "."
    )
    if moved.affected:
        names = ", ".join(
            f"{a.name} v{a.version}" + (f" ({', '.join(a.labels)})" if a.labels else "")
            for a in moved.affected
        )
        said += f" Prompts that include it render differently now: {names}."
    return said


def move_problem(body: ErrorBody) -> str:
    """A refused label move in words: each reason of the gate the API named, else its message."""
    reasons = [REFUSALS.get(str(d.get("type")), str(d.get("message") or d.get("type"))) for d in body.details]
    reasons = [r for r in reasons if r and r != "None"]
    if body.code in (ErrorCode.CONFLICT, ErrorCode.FORBIDDEN) and reasons:
        return "The label was not moved: " + "; ".join(reasons) + "."
    return f"The label was not moved: {body.message}."


def approve_done(approved: VersionApproved, people: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """An approval in words: who approved which version, and what it allows."""
    return (
        f"Version {approved.version} of {approved.name} is approved by "
        f"{who(approved.approver, people, keys)}: another person may now move a protected label to it."
    )


def approve_problem(body: ErrorBody) -> str:
    """A refused approval in words: each reason the API named, else its message."""
    reasons = [REFUSALS.get(str(d.get("type")), str(d.get("message") or d.get("type"))) for d in body.details]
    reasons = [r for r in reasons if r and r != "None"]
    if body.code in (ErrorCode.CONFLICT, ErrorCode.FORBIDDEN) and reasons:
        return "The version was not approved: " + "; ".join(reasons) + "."
    return f"The version was not approved: {body.message}."
