"""The Supply chain page: the team's findings counted by severity and triage (`GET
/api/v1/supply-chain/summary`, counted by the database, not from a page of findings), the download
policy, the versions it blocks (with the findings that block each), the overrides that let a version
through, the open vulnerability findings by severity with their triage (all the team's, or one SBOM's
with its VEX exports), the SBOMs and lockfiles uploaded through the API with their downloads, and the
advisories held with their last imports.

Pure. The forms arrive as strings (htmx's json-enc); each form's `body` makes what the API route
takes (`PUT /api/v1/supply-chain/policy`, `POST /api/v1/supply-chain/policy/overrides`, `POST
/api/v1/vulnerabilities/{finding_id}/triage` and `.../triage/withdraw`), whose models decide what is
valid: a form passes odd text on for them to refuse by name.

On a page narrowed to one SBOM a triage is this product's only unless the form says every product
(team-wide): a team-wide decision reaches every SBOM and registry version holding that component
version, and their download blocks, which someone looking at one product's findings may not mean to
change; widening stays one choice away. A product's own decision can be withdrawn there, so the
team-wide one applies to it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

from services.dashboard.answers import Unavailable, unavailable
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.fields import Text
from shared.messages.supply_chain import (
    UUID_PATTERN,
    AdvisoryImportInfo,
    AdvisoryStatus,
    FindingInfo,
    FindingList,
    FindingSummary,
    Id,
    SbomInfo,
    SbomList,
    SeverityRating,
    TriageInfo,
    TriageStatus,
    TriageWithdrawal,
)
from shared.messages.supply_chain_policy import BlockedList, DownloadPolicy, OverrideList

PATH = "/dashboard/supply-chain"
FINDINGS_ASKED = 500  # the most GET /api/v1/vulnerabilities answers at once
SBOMS_SHOWN = 50  # the newest uploaded SBOMs (and, apart, lockfiles) read (GET /api/v1/sboms?limit=)
UPLOADED_SOURCES = ("upload", "lockfile")  # SBOMs made elsewhere and lockfiles, sent to POST /api/v1/sboms
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
# Whose decision a triage form writes on a page narrowed to one SBOM (the first is the default), and
# whose decision applies to a finding, in words.
PRODUCT = "product"
TEAM = "team"
SCOPE_CHOICES: tuple[tuple[str, str], ...] = (
    (PRODUCT, "this product only"),
    (TEAM, "every product (team-wide)"),
)
# Whose decision applies, in words: on the product's own page, and on the team's (where a row's
# product is one of many).
SCOPE_WORDS = {PRODUCT: "this product only", TEAM: "team-wide"}
OWN_ELSEWHERE = "its product's own"
TRIAGE_CHOICES: tuple[tuple[str, str], ...] = (
    (TriageStatus.UNDER_INVESTIGATION.value, "under investigation"),
    (TriageStatus.AFFECTED.value, "affected (say what to do)"),
    (TriageStatus.NOT_AFFECTED.value, "not affected (say why)"),
    (TriageStatus.FIXED.value, "fixed"),
)
# The API's field names in a refusal, as the forms label them.
FIELD_WORDS = {
    "block_severity": "Block downloads with open findings of",
    "block_unrated": "Findings without a severity rating block too",
    "quarantine_days": "Quarantine",
}

FormText = Annotated[Text, StringConstraints(max_length=2000)]
ShortForm = Annotated[Text, StringConstraints(max_length=256)]


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


def _checkbox(value: str) -> bool | str:
    """A checkbox as json-enc sends it: absent (the default, "") when unticked, `true` (its value) or
    `on` when ticked; other text is passed on for the API's model to refuse."""
    value = value.strip()
    if value in ("", "false", "off"):
        return False
    if value in ("true", "on"):
        return True
    return value


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# -- forms -------------------------------------------------------------------------------------


class PageQuery(BaseModel):
    """The page's query string: `?sbom=` narrows the findings and their counts to one SBOM."""

    model_config = ConfigDict(extra="ignore")

    sbom: Annotated[Id | None, BeforeValidator(_blank_is_none)] = None


def scope_of(current_url: str | None) -> str | None:
    """The SBOM a page narrowed its findings to (`?sbom=` of the URL htmx names in `HX-Current-URL`),
    so the body a write answers stays as narrow as the page it replaces; None for the whole team
    (or a value that is no SBOM id)."""
    if not current_url:
        return None
    values = parse_qs(urlsplit(current_url).query).get("sbom", [])
    chosen = values[0].strip() if values else ""
    return chosen if re.fullmatch(UUID_PATTERN, chosen) else None


class PolicyForm(BaseModel):
    """The policy form: every field is always in it, so an unticked `block_unrated` (which json-enc
    leaves out) means off, not "keep as it is" as the API reads an absent field."""

    model_config = ConfigDict(extra="forbid")

    block_severity: ShortForm = "none"
    quarantine_days: ShortForm = "0"
    block_unrated: ShortForm = ""

    def body(self) -> dict[str, Any]:
        """The policy as `PUT /api/v1/supply-chain/policy` takes it (an empty day count is 0)."""
        return {
            "block_severity": self.block_severity.strip(),
            "quarantine_days": self.quarantine_days.strip() or "0",
            "block_unrated": _checkbox(self.block_unrated),
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


FormId = Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class TriageForm(BaseModel):
    """One finding's triage: a status, and for it a justification or a statement (the statement is
    the impact statement of not_affected, the action statement of affected, a note otherwise). On a
    page narrowed to one SBOM, `scope` says whose decision it is: `product` (that SBOM's, `sbom_id`)
    or `team`; absent (the team's page) it is team-wide."""

    model_config = ConfigDict(extra="forbid")

    finding_id: FormId
    status: ShortForm
    justification: ShortForm = ""
    statement: FormText = ""
    # A closed choice: text that is neither must not fall through to the wider, team-wide write.
    scope: Literal["", "team", "product"] = ""
    sbom_id: ShortForm = ""

    def body(self) -> dict[str, Any]:
        status = self.status.strip()
        body: dict[str, Any] = {"finding_id": self.finding_id.strip(), "status": status}
        if self.scope == PRODUCT:
            body["product"] = {"sbom_id": self.sbom_id.strip()}
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


class WithdrawForm(BaseModel):
    """The "Use the team-wide decision" button: withdraw the narrowed page's SBOM's own decision
    about a finding."""

    model_config = ConfigDict(extra="forbid")

    finding_id: FormId
    sbom_id: ShortForm

    def body(self) -> dict[str, Any]:
        return {"finding_id": self.finding_id.strip(), "product": {"sbom_id": self.sbom_id.strip()}}


def triage_saved(info: TriageInfo) -> str:
    """A saved triage in one line, naming whose decision it is."""
    said = f"{info.advisory_id} in {info.purl}: {TRIAGE_WORDS[info.status]}"
    if info.product is not None:
        return f"{said} for this product only (the team-wide decision is unchanged)."
    return f"{said}, team-wide."


def withdrawal_done(done: TriageWithdrawal) -> str:
    """A withdrawn product decision in one line: what it was, and the team-wide one that now applies."""
    gone, applies = done.withdrawn, done.applies
    return (
        f"{gone.advisory_id} in {gone.purl}: this product's own decision ({TRIAGE_WORDS[gone.status]}) "
        f"withdrawn; the team-wide decision applies: {TRIAGE_WORDS[applies.status]}."
    )


# -- who ---------------------------------------------------------------------------------------


def refused(body: ErrorBody) -> Unavailable:
    """An API refusal of a write in words for its panel: the message, and for a request that did not
    match the route's schema each field it names (as the form labels it) with what is wrong."""
    problem = unavailable(body)
    if body.code != ErrorCode.VALIDATION_FAILED or problem.reason != "error":
        return problem
    fields = []
    for detail in body.details:
        message = str(detail.get("message") or detail.get("type") or "")
        if not message or message in problem.message:
            continue
        loc = str(detail.get("loc") or "")
        fields.append(f"{FIELD_WORDS.get(loc, loc)}: {message}" if loc else message)
    return Unavailable(problem.reason, "; ".join([problem.message, *fields])) if fields else problem


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
    block_unrated: bool = False
    unrated: str = ""  # whether findings without a severity rating block, in words


def unrated_words(block_severity: str, block_unrated: bool) -> str:
    """Whether an open finding whose advisory gives no severity blocks its version, in words (it
    never does while the policy blocks nothing)."""
    if block_severity == SeverityRating.NONE.value:
        if block_unrated:
            return "Would block too, once the policy blocks a severity (it blocks nothing now)."
        return "Do not block: the policy blocks nothing."
    if block_unrated:
        return "Block too: an open finding whose advisory gives no severity blocks its version."
    return "Do not block: only findings rated by their advisory are compared with the severity."


def policy_saved(policy: DownloadPolicy) -> str:
    """A saved policy in one line (the write's outcome)."""
    days = policy.quarantine_days
    unrated = (
        " and findings without a rating"
        if policy.block_unrated and policy.block_severity is not SeverityRating.NONE
        else ""
    )
    return (
        f"Policy saved: blocking from {policy.block_severity.value}{unrated}, "
        f"quarantine {days} day{'s' if days != 1 else ''}."
    )


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
        policy.block_unrated,
        unrated_words(rating, policy.block_unrated),
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
    sbom_href: str | None = None  # the findings (and VEX exports) of the SBOM it was found in
    scope: str = TEAM  # whose decision `triage` is: its product's own (`product`) or the team's
    scope_words: str = SCOPE_WORDS[TEAM]

    @property
    def own(self) -> bool:
        """Its product's own decision applies (which the team-wide one does not change)."""
        return self.scope == PRODUCT


@dataclass(frozen=True)
class SeverityGroup:
    rating: str
    title: str
    rows: tuple[FindingRow, ...]
    total: int | None = None  # the open findings of this rating counted by the API (None: unknown)

    @property
    def count(self) -> int:
        """How many open findings have this rating: the API's count, else the rows read."""
        return self.total if self.total is not None else len(self.rows)

    @property
    def partial(self) -> bool:
        """Fewer rows listed than the rating has (the list reads the worst findings only)."""
        return self.count > len(self.rows)


def is_open(finding: FindingInfo) -> bool:
    return finding.id is not None and finding.retired_at is None and finding.triage in OPEN_TRIAGE


def _rating(finding: FindingInfo) -> str:
    rating = finding.severity.rating
    return rating.value if rating is not None else UNRATED


def findings_href(sbom_id: str) -> str:
    """The page narrowed to one SBOM's findings (with its VEX exports)."""
    return f"{PATH}?{urlencode({'sbom': sbom_id})}#findings"


def finding_row(f: FindingInfo, *, sbom_link: bool = False, narrowed: bool = False) -> FindingRow:
    """A finding as a row; `narrowed`: on the page of its own SBOM (its product's decision is "this
    product's" there)."""
    assert f.id is not None  # rows are of stored findings
    scope = PRODUCT if f.triage_scope == PRODUCT else TEAM
    return FindingRow(
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
        findings_href(f.sbom_id) if sbom_link and f.sbom_id else None,
        scope,
        SCOPE_WORDS[scope] if narrowed or scope == TEAM else OWN_ELSEWHERE,
    )


def finding_groups(
    found: FindingList,
    totals: Mapping[str, int] | None = None,
    *,
    sbom_links: bool = False,
    narrowed: bool = False,
) -> list[SeverityGroup]:
    """The open findings (untriaged, under investigation or affected; not retired) grouped by
    severity, worst group first; each group by package, then advisory. `totals` (the summary's open
    findings by rating) gives each group its real size, which the rows read may fall short of;
    `sbom_links` links each row to its SBOM's findings; `narrowed`: they are one SBOM's."""
    grouped: dict[str, list[FindingRow]] = {}
    for f in found.items:
        if not is_open(f) or f.id is None:
            continue
        grouped.setdefault(_rating(f), []).append(finding_row(f, sbom_link=sbom_links, narrowed=narrowed))
    return [
        SeverityGroup(
            rating,
            SEVERITY_WORDS[rating],
            tuple(sorted(grouped[rating], key=lambda r: (r.package, r.version, r.advisory_id, r.id))),
            totals.get(rating, 0) if totals is not None else None,
        )
        for rating in SEVERITY_ORDER
        if rating in grouped
    ]


def closed_by_product(found: FindingList) -> list[FindingRow]:
    """The findings its product's own decision closed (not affected or fixed; not retired): the open
    list leaves them out, and on the product's page they are where that decision can be withdrawn.
    Worst first, as the list answers them."""
    return [
        finding_row(f, narrowed=True)
        for f in found.items
        if f.id is not None
        and f.retired_at is None
        and f.triage_scope == PRODUCT
        and f.triage not in OPEN_TRIAGE
    ]


def open_count(groups: list[SeverityGroup]) -> int:
    return sum(len(g.rows) for g in groups)


def listed_note(groups: list[SeverityGroup], summary: FindingSummary | None, limited: bool) -> str | None:
    """What the list leaves out, when it does: the list API reads the worst findings only, so a team
    with more open findings than it answers sees the worst ones (the counts are of every one)."""
    shown = open_count(groups)
    if summary is not None and shown < summary.open:
        return (
            f"The worst {shown} of {summary.open} open findings are listed (the findings list answers "
            f"{FINDINGS_ASKED} at a time); triage these to see the rest. The counts are of all "
            f"{summary.open}."
        )
    if summary is None and limited:
        return f"The worst {FINDINGS_ASKED} findings are read; triage these to see the rest."
    return None


# -- the counts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountRow:
    key: str  # a rating or a triage status's value
    title: str
    count: int


@dataclass(frozen=True)
class SummaryView:
    open: int
    severities: tuple[CountRow, ...]  # every rating, worst first (zeros too)
    triage: tuple[CountRow, ...]  # every status, the open ones first (zeros too)
    closed: int  # triaged not affected or fixed
    packages: int
    versions: int
    sboms: int
    advisories: int


TRIAGE_ORDER = (
    TriageStatus.UNDER_INVESTIGATION,
    TriageStatus.AFFECTED,
    TriageStatus.NOT_AFFECTED,
    TriageStatus.FIXED,
)


def summary_view(summary: FindingSummary) -> SummaryView:
    """The API's counts (every finding, counted by the database) as the counts panel shows them."""
    severities = tuple(
        CountRow(rating, SEVERITY_WORDS[rating], summary.by_severity.get(rating, 0))
        for rating in SEVERITY_ORDER
    )
    triage = tuple(
        CountRow(status.value, TRIAGE_WORDS[status], summary.by_triage.get(status.value, 0))
        for status in TRIAGE_ORDER
    )
    closed = sum(summary.by_triage.get(s.value, 0) for s in (TriageStatus.NOT_AFFECTED, TriageStatus.FIXED))
    return SummaryView(
        summary.open,
        severities,
        triage,
        closed,
        summary.packages,
        summary.versions,
        summary.sboms,
        summary.advisories,
    )


# -- uploaded SBOMs and lockfiles --------------------------------------------------------------

SBOMS = "/api/v1/sboms"
FORMAT_WORDS = {
    "cyclonedx": "CycloneDX",
    "spdx": "SPDX",
    # SBOMs the agent made itself (every other `input_format` is the kind of an uploaded lockfile).
    "artifact": "made from the published version",
    "upstream": "made for the upstream version",
}


def sbom_href(sbom_id: str, document: str, document_format: str) -> str:
    """An SBOM's download API route: `document` (`GET /api/v1/sboms/{sbom_id}/document?format=`,
    cyclonedx or spdx) or `vex` (`.../vex?format=`, openvex or cyclonedx)."""
    return f"{SBOMS}/{quote(sbom_id, safe='')}/{document}?{urlencode({'format': document_format})}"


@dataclass(frozen=True)
class SbomRow:
    id: str
    name: str
    version: str | None
    source: str  # upload (an SBOM made elsewhere) or lockfile
    format: str  # in words: CycloneDX, SPDX, or the lockfile's kind
    document_name: str | None
    created: datetime
    components: int
    findings: int  # findings not retired (triaged or not): what its VEX documents state
    worst: str | None  # the worst rating among them (`unrated` when none has one)
    cyclonedx_href: str
    spdx_href: str
    vex_cyclonedx_href: str
    openvex_href: str | None  # None: nothing to state (the API answers 409 `no_open_findings`)
    findings_href: str

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


NO_OPENVEX = (
    "no finding to state: an OpenVEX document needs at least one (the CycloneDX VEX says there is none)"
)


def sbom_row(info: SbomInfo) -> SbomRow:
    findings = sum(info.findings.values())
    held = [rating for rating in SEVERITY_ORDER if info.findings.get(rating)]
    return SbomRow(
        info.id,
        info.subject_name,
        info.subject_version,
        info.source,
        FORMAT_WORDS.get(info.input_format, f"{info.input_format} (lockfile)"),
        info.document_name,
        info.created,
        info.components,
        findings,
        held[0] if held else None,
        sbom_href(info.id, "document", "cyclonedx"),
        sbom_href(info.id, "document", "spdx"),
        sbom_href(info.id, "vex", "cyclonedx"),
        sbom_href(info.id, "vex", "openvex") if findings else None,
        findings_href(info.id),
    )


@dataclass(frozen=True)
class SbomTable:
    rows: tuple[SbomRow, ...]
    total: int  # uploaded SBOMs and lockfiles the team holds

    @property
    def limited(self) -> bool:
        return self.total > len(self.rows)


def uploaded_sboms(*found: SbomList) -> SbomTable:
    """The SBOMs and lockfiles uploaded through the API (one list per source, each newest first):
    the newest `SBOMS_SHOWN` of them all, newest first."""
    items = sorted((i for f in found for i in f.items), key=lambda i: (i.created, i.id), reverse=True)
    return SbomTable(tuple(sbom_row(i) for i in items[:SBOMS_SHOWN]), sum(f.total for f in found))


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
