"""The Supply chain page: the team's download policy, the versions it blocks (with the findings that
block each), the overrides that let a version through, the open vulnerability findings by
severity with their triage, and the advisories held with their last imports.

Pure. The forms arrive as strings (htmx's json-enc); each form's `body` makes what the API route
takes (`PUT /api/v1/supply-chain/policy`, `POST /api/v1/supply-chain/policy/overrides`, `POST
/api/v1/vulnerabilities/{finding_id}/triage`), whose models decide what is valid: a form passes odd
text on for them to refuse by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.messages.fields import Text
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryStatus,
    FindingInfo,
    FindingList,
    SeverityRating,
    TriageStatus,
)
from shared.messages.supply_chain_policy import BlockedList, DownloadPolicy, OverrideList

PATH = "/dashboard/supply-chain"
FINDINGS_ASKED = 500  # the most GET /api/v1/vulnerabilities answers at once
IMPORTS_SHOWN = 10  # the latest advisory imports read (GET /api/v1/supply-chain/advisories?limit=)
IMPORT_WORDS = {"running": "running", "finished": "finished", "failed": "failed"}
UNRATED = "unrated"
# Worst first; `unrated` is an advisory without a rating (`none` a rating of none).
SEVERITY_ORDER: tuple[str, ...] = (
    SeverityRating.CRITICAL.value,
    SeverityRating.HIGH.value,
    SeverityRating.MEDIUM.value,
    SeverityRating.LOW.value,
    SeverityRating.NONE.value,
    UNRATED,
)
SEVERITY_WORDS = {
    "critical": "Critical",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "none": "None",
    UNRATED: "Unrated",
}
# A finding is open until triaged not_affected or fixed (the policy blocks on open ones).
OPEN_TRIAGE: frozenset[TriageStatus | None] = frozenset(
    {None, TriageStatus.UNDER_INVESTIGATION, TriageStatus.AFFECTED}
)
TRIAGE_WORDS = {
    None: "untriaged",
    TriageStatus.UNDER_INVESTIGATION: "under investigation",
    TriageStatus.AFFECTED: "affected",
    TriageStatus.NOT_AFFECTED: "not affected",
    TriageStatus.FIXED: "fixed",
}
# OpenVEX's justifications for not_affected (the API takes CycloneDX's too).
JUSTIFICATIONS: tuple[tuple[str, str], ...] = (
    ("component_not_present", "the component is not present"),
    ("vulnerable_code_not_present", "the vulnerable code is not present"),
    ("vulnerable_code_not_in_execute_path", "the vulnerable code is never run"),
    ("vulnerable_code_cannot_be_controlled_by_adversary", "an adversary cannot control the vulnerable code"),
    ("inline_mitigations_already_exist", "mitigations are already in place"),
)
BLOCK_CHOICES: tuple[tuple[str, str], ...] = (
    ("none", "block nothing"),
    ("critical", "critical findings"),
    ("high", "high or critical findings"),
    ("medium", "medium or worse"),
    ("low", "low or worse"),
)
TRIAGE_CHOICES: tuple[tuple[str, str], ...] = (
    (TriageStatus.UNDER_INVESTIGATION.value, "under investigation"),
    (TriageStatus.AFFECTED.value, "affected (say what to do)"),
    (TriageStatus.NOT_AFFECTED.value, "not affected (say why)"),
    (TriageStatus.FIXED.value, "fixed"),
)

FormText = Annotated[Text, StringConstraints(max_length=2000)]
ShortForm = Annotated[Text, StringConstraints(max_length=256)]


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


# -- forms -------------------------------------------------------------------------------------


class PolicyForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    block_severity: ShortForm = "none"
    quarantine_days: ShortForm = "0"

    def body(self) -> dict[str, Any]:
        """The policy as `PUT /api/v1/supply-chain/policy` takes it (an empty day count is 0)."""
        return {
            "block_severity": self.block_severity.strip(),
            "quarantine_days": self.quarantine_days.strip() or "0",
        }


class OverrideForm(BaseModel):
    """Let a blocked version's downloads through, with why."""

    model_config = ConfigDict(extra="forbid")

    ecosystem: ShortForm
    name: ShortForm
    version: ShortForm
    reason: FormText = ""

    def body(self) -> dict[str, Any]:
        return {
            "ecosystem": self.ecosystem.strip(),
            "name": self.name.strip(),
            "version": self.version.strip(),
            "reason": self.reason.strip(),
        }


class OverrideRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class TriageForm(BaseModel):
    """One finding's triage: a status, and for it a justification or a statement (the statement is
    the impact statement of not_affected, the action statement of affected, a note otherwise)."""

    model_config = ConfigDict(extra="forbid")

    finding_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]
    status: ShortForm
    justification: ShortForm = ""
    statement: FormText = ""

    def body(self) -> dict[str, Any]:
        status = self.status.strip()
        body: dict[str, Any] = {"finding_id": self.finding_id.strip(), "status": status}
        statement = _text(self.statement)
        if status == TriageStatus.NOT_AFFECTED.value:
            if (justification := _text(self.justification)) is not None:
                body["justification"] = justification
            if statement is not None:
                body["impact_statement"] = statement
        elif status == TriageStatus.AFFECTED.value:
            if statement is not None:
                body["action_statement"] = statement
        elif statement is not None:
            body["note"] = statement
        return body


# -- who ---------------------------------------------------------------------------------------


def who(actor: str | None, people: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """An actor as the supply chain records it (a user's id, or `apikey:<id>`) in words: a member's
    login, a key's name, else as recorded."""
    if not actor:
        return "—"
    if actor.startswith("apikey:"):
        key_id = actor.removeprefix("apikey:")
        return f"key {keys[key_id]}" if key_id in keys else actor
    return people.get(actor, actor)


# -- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyView:
    block_severity: str
    quarantine_days: int
    blocks: str  # what the policy blocks, in words
    quarantine: str
    updated_by: str | None
    updated_at: datetime | None


def policy_view(policy: DownloadPolicy, people: Mapping[str, str], keys: Mapping[str, str]) -> PolicyView:
    rating = policy.block_severity.value
    if rating == SeverityRating.NONE.value:
        blocks = "Nothing is blocked: downloads are served whatever their findings."
    elif rating == SeverityRating.CRITICAL.value:
        blocks = "Versions with an open critical finding are refused to package clients."
    else:
        blocks = f"Versions with an open finding rated {rating} or worse are refused to package clients."
    days = policy.quarantine_days
    quarantine = (
        "Off: new upstream versions are offered at once."
        if days == 0
        else f"Upstream versions younger than {days} day{'s' if days != 1 else ''} are left off the index."
    )
    return PolicyView(
        rating,
        days,
        blocks,
        quarantine,
        who(policy.updated_by, people, keys) if policy.updated_by else None,
        policy.updated_at,
    )


# -- blocked versions and overrides ------------------------------------------------------------


@dataclass(frozen=True)
class BlockerRow:
    finding_id: str
    advisory_id: str
    severity: str
    package: str
    triage: str


@dataclass(frozen=True)
class BlockedRow:
    ecosystem: str
    name: str
    version: str
    findings: tuple[BlockerRow, ...]

    @property
    def key(self) -> str:
        return f"{self.ecosystem}:{self.name}@{self.version}"

    @property
    def ref(self) -> dict[str, str]:
        return {"ecosystem": self.ecosystem, "name": self.name, "version": self.version}


def _rank(rating: str) -> int:
    return SEVERITY_ORDER.index(rating) if rating in SEVERITY_ORDER else len(SEVERITY_ORDER)


def _blocking_rating(severity: SeverityRating | None) -> str:
    """A blocking finding's rating; `unrated` when its advisory gives none (`block_unrated`)."""
    return severity.value if severity is not None else UNRATED


def blocked_rows(found: BlockedList) -> list[BlockedRow]:
    """Each blocked version with its findings, worst first."""
    rows = []
    for item in found.items:
        findings = sorted(
            item.findings, key=lambda f: (_rank(_blocking_rating(f.severity)), f.advisory_id, f.package)
        )
        rows.append(
            BlockedRow(
                item.ecosystem.value,
                item.name,
                item.version,
                tuple(
                    BlockerRow(
                        f.finding_id,
                        f.advisory_id,
                        _blocking_rating(f.severity),
                        f.package,
                        f.triage_status.replace("_", " "),
                    )
                    for f in findings
                ),
            )
        )
    return sorted(rows, key=lambda r: (_rank(r.findings[0].severity) if r.findings else 99, r.key))


@dataclass(frozen=True)
class OverrideRow:
    id: str
    ecosystem: str
    name: str
    version: str
    reason: str
    created_by: str
    created_at: datetime


def override_rows(
    found: OverrideList, people: Mapping[str, str], keys: Mapping[str, str]
) -> list[OverrideRow]:
    return [
        OverrideRow(
            o.id,
            o.ecosystem.value,
            o.name,
            o.version,
            o.reason,
            who(o.created_by, people, keys),
            o.created_at,
        )
        for o in found.items
    ]


# -- findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingRow:
    id: str
    advisory_id: str
    aliases: str
    summary: str | None
    ecosystem: str
    package: str
    version: str
    fixed: str
    triage: str
    status: str  # the triage status's value ("" when untriaged), for the form's default
    score: float | None


@dataclass(frozen=True)
class SeverityGroup:
    rating: str
    title: str
    rows: tuple[FindingRow, ...]


def is_open(finding: FindingInfo) -> bool:
    return finding.id is not None and finding.retired_at is None and finding.triage in OPEN_TRIAGE


def _rating(finding: FindingInfo) -> str:
    rating = finding.severity.rating
    return rating.value if rating is not None else UNRATED


def finding_groups(found: FindingList) -> list[SeverityGroup]:
    """The open findings (untriaged, under investigation or affected; not retired) grouped by
    severity, worst group first; each group by package, then advisory."""
    grouped: dict[str, list[FindingRow]] = {}
    for f in found.items:
        if not is_open(f) or f.id is None:
            continue
        grouped.setdefault(_rating(f), []).append(
            FindingRow(
                f.id,
                f.advisory_id,
                ", ".join(a for a in f.aliases if a != f.advisory_id),
                f.summary,
                f.ecosystem,
                f.package,
                f.version,
                ", ".join(f.fixed_versions) or "no fix known",
                TRIAGE_WORDS[f.triage],
                f.triage.value if f.triage is not None else "",
                f.severity.score,
            )
        )
    return [
        SeverityGroup(
            rating,
            SEVERITY_WORDS[rating],
            tuple(sorted(grouped[rating], key=lambda r: (r.package, r.version, r.advisory_id, r.id))),
        )
        for rating in SEVERITY_ORDER
        if rating in grouped
    ]


def open_count(groups: list[SeverityGroup]) -> int:
    return sum(len(g.rows) for g in groups)


# -- advisories --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    id: str
    source: str
    status: str  # running, finished, failed
    started_at: datetime
    finished_at: datetime | None
    files: int
    counts: str  # the records it changed, in words
    errors: str | None  # unreadable files, or why it failed
    ok: bool


@dataclass(frozen=True)
class AdvisoryView:
    advisories: int
    withdrawn: int
    latest_modified: datetime | None
    imports: tuple[ImportRow, ...]
    last_finished: datetime | None  # when the latest import that finished did


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def import_row(item: AdvisoryImportInfo) -> ImportRow:
    counts = ", ".join(
        (
            f"{item.new} new",
            f"{item.modified} modified",
            f"{item.withdrawn} withdrawn",
            f"{item.unchanged} unchanged",
        )
    )
    if item.status == "failed":
        errors: str | None = f"failed: {item.failure}" if item.failure else "failed"
    elif item.error_count:
        errors = _plural(item.error_count, "unreadable file") + " skipped"
    else:
        errors = None
    return ImportRow(
        item.id,
        item.source,
        IMPORT_WORDS.get(item.status, item.status),
        item.started_at,
        item.finished_at,
        item.files,
        counts,
        errors,
        item.status == "finished" and not item.error_count,
    )


def advisory_view(status: AdvisoryStatus) -> AdvisoryView:
    """The advisories held and the latest imports, newest first (as the API answers them)."""
    rows = tuple(import_row(i) for i in status.imports)
    finished = [i.finished_at for i in status.imports if i.status == "finished" and i.finished_at]
    return AdvisoryView(
        status.advisories,
        status.withdrawn,
        status.latest_modified,
        rows,
        max(finished) if finished else None,
    )
