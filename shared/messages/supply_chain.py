"""Wire models of the supply chain (SupplyChainAgent): scans, SBOMs, findings, triage, advisory
imports and attestations.

Documents (an uploaded SBOM or lockfile, an advisory archive, a generated SBOM, VEX or envelope) never
travel in these messages: NATS carries at most 1 MB, and a 1,000-component SBOM is about that. The
edge streams an upload into the blob store and hands a `BlobReference`; a download is answered with a
`DocumentLocation` the edge streams back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.messages.artifacts import (
    BlobReference,
    Ecosystem,
    FilenameText,
    PackageNameText,
    VersionText,
    scoped_name_for_npm_only,
)
from shared.messages.fields import Text

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Id = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
ShortText = Annotated[Text, StringConstraints(max_length=2000)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class SeverityRating(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class TriageStatus(StrEnum):
    """VEX's four statuses (OpenVEX names)."""

    UNDER_INVESTIGATION = "under_investigation"
    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    FIXED = "fixed"


class ScanDocument(_Request):
    """Scan a document the edge stored in the blob store: a CycloneDX or SPDX JSON SBOM, or a
    lockfile (requirements*.txt, package-lock.json, go.sum, pom.xml, Cargo.lock) told by its name."""

    filename: FilenameText
    blob: BlobReference
    store: bool = True
    """False: answer the findings only (`mno scan` in CI); nothing is stored or signed."""


class Severity(_Answer):
    rating: SeverityRating | None
    score: float | None = None
    method: str | None = None
    """CVSS_V2 / CVSS_V3 / CVSS_V4, or `database` for a database's word."""
    vector: str | None = None


class TriageTransition(_Answer):
    previous: TriageStatus | None
    status: TriageStatus
    justification: str | None = None
    impact_statement: str | None = None
    action_statement: str | None = None
    note: str | None = None
    actor: str
    at: datetime


class TriageProduct(_Answer):
    """The product a triage decision applies to: an SBOM (an upload or a lockfile) by id, or a version of
    the registry (the team's own or one its index took from an upstream) by ecosystem, name and version."""

    sbom_id: str | None = None
    ecosystem: Ecosystem | None = None
    name: str | None = None
    version: str | None = None


class TriageInfo(_Answer):
    advisory_id: str
    purl: str
    product: TriageProduct | None = Field(
        default=None,
        description="The product this decision is for (it wins over the team-wide one there); null: the "
        "team-wide decision, for every product without one of its own.",
    )
    status: TriageStatus
    justification: str | None = None
    impact_statement: str | None = None
    action_statement: str | None = None
    note: str | None = None
    updated_by: str
    updated_at: datetime
    history: list[TriageTransition] = []


class FindingInfo(_Answer):
    id: str | None
    """None for a scan that was not stored."""
    sbom_id: str | None
    advisory_id: str
    aliases: list[str]
    summary: str | None
    ecosystem: str
    """The OSV ecosystem (`PyPI`, `npm`, ...)."""
    package: str
    version: str
    purl: str
    severity: Severity
    fixed_versions: list[str]
    path: list[str]
    """References from the SBOM's root to the vulnerable component."""
    triage: TriageStatus | None = None
    triage_scope: Literal["team", "product"] | None = Field(
        default=None,
        description="Whose decision `triage` is: this finding's product's own (its SBOM, or its registry "
        "version) or the team-wide one.",
    )
    first_seen: datetime | None = None
    retired_at: datetime | None = None
    retired_reason: str | None = None


class SkippedEntry(_Answer):
    where: str
    reason: str


class SbomInfo(_Answer):
    id: str
    source: Literal["artifact", "upstream", "upload", "lockfile"]
    subject_ecosystem: str | None
    subject_name: str
    subject_version: str | None
    document_name: str | None
    input_format: str
    components: int
    created: datetime
    scanned_at: datetime
    findings: dict[str, int] = {}
    """Open findings by severity rating (`unrated` for advisories without one)."""
    attestations: list[str] = []
    """Its attestations' ids, oldest first: the SBOM as CycloneDX 1.6, the SBOM as SPDX 2.3 (one each,
    made with it; SBOMs stored before the SPDX one was signed have only the first), then its scans."""


class ScanResult(_Answer):
    sbom: SbomInfo | None
    """The stored SBOM (None when `store` was false)."""
    input_format: str
    components: int
    findings: list[FindingInfo]
    skipped: list[SkippedEntry] = []
    advisories: int
    """How many advisories the scan matched against."""


class ListSboms(_Request):
    source: Literal["artifact", "upstream", "upload", "lockfile"] | None = None
    subject_ecosystem: Annotated[Text, StringConstraints(max_length=64)] | None = None
    """A purl type (`pypi`, `npm`, ...): a registry version's SBOM is found by ecosystem, name, version."""
    subject_name: Annotated[Text, StringConstraints(max_length=512)] | None = None
    subject_version: Annotated[Text, StringConstraints(max_length=256)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class SbomList(_Answer):
    items: list[SbomInfo]
    total: int
    next_offset: int | None


class SbomRef(_Request):
    sbom_id: Id


class SbomDocumentRequest(_Request):
    sbom_id: Id
    format: Literal["cyclonedx", "spdx"] = "cyclonedx"


class VexRequest(_Request):
    sbom_id: Id
    format: Literal["openvex", "cyclonedx"] = "openvex"


class DocumentLocation(_Answer):
    """A document in the blob store, for the edge to stream."""

    sha256: str
    size: int
    media_type: str
    filename: str


class ListFindings(_Request):
    sbom_id: Id | None = None
    min_severity: SeverityRating | None = None
    status: TriageStatus | None = None
    include_retired: bool = False
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class FindingList(_Answer):
    items: list[FindingInfo]
    total: int
    next_offset: int | None


class FindingRef(_Request):
    finding_id: Id


class FindingDetail(_Answer):
    finding: FindingInfo
    triage: TriageInfo | None


class ProductScope(_Request):
    """One product: an SBOM by id (`sbom_id`), or a registry version by `ecosystem`, `name` and `version`
    (the team's own or an upstream one; its decision outlives a new SBOM of the version)."""

    sbom_id: Id | None = None
    ecosystem: Ecosystem | None = None
    name: PackageNameText | None = None
    version: VersionText | None = None

    @model_validator(mode="after")
    def one_product(self) -> ProductScope:
        version = (self.ecosystem, self.name, self.version)
        if self.sbom_id is not None:
            if any(v is not None for v in version):
                raise ValueError("name the product by sbom_id or by ecosystem, name and version, not both")
        elif any(v is None for v in version):
            raise ValueError("name the product by sbom_id, or by all of ecosystem, name and version")
        scoped_name_for_npm_only(self.ecosystem, self.name)
        return self


class TriageRequest(_Request):
    """A VEX decision about a finding's advisory in its component: team-wide (every SBOM naming that
    component version shares it), or for one product (`product`), where it wins over the team-wide one."""

    finding_id: Id
    product: ProductScope | None = Field(
        default=None,
        description='The product the decision is for: `{"sbom_id": ...}` or `{"ecosystem": ..., '
        '"name": ..., "version": ...}` (a registry version of the team\'s, or one its index took from '
        "an upstream). Absent: team-wide. The product must have this finding's advisory in this finding's "
        "component version (else 422 `not_in_product`).",
    )
    status: TriageStatus
    justification: Annotated[Text, StringConstraints(max_length=100)] | None = None
    impact_statement: ShortText | None = None
    action_statement: ShortText | None = None
    note: ShortText | None = None


class TriageWithdrawRequest(_Request):
    """Withdraw a product's own decision about a finding's advisory in its component, so the team-wide
    decision applies to that product again. Only a product's decision can be withdrawn: the team-wide
    one is what every product without its own follows, so `product` is required."""

    finding_id: Id
    product: ProductScope = Field(
        description='The product whose own decision is withdrawn: `{"sbom_id": ...}` or `{"ecosystem": '
        '..., "name": ..., "version": ...}`, as it was given to the triage. Required: the team-wide '
        "decision is not withdrawn, only replaced by another."
    )


class TriageWithdrawal(_Answer):
    withdrawn: TriageInfo = Field(
        description="The product's decision as it stood when withdrawn, with its history (kept on record)."
    )
    applies: TriageInfo = Field(
        description="What applies to the product's finding now: the team-wide decision (`product` null)."
    )


AdvisorySource = Annotated[Text, StringConstraints(min_length=1, max_length=300)]


class AdvisoryImportRequest(_Request):
    """An import of OSV records (a zip or tar archive the edge stored in the blob store)."""

    source: AdvisorySource
    blob: BlobReference


class AdvisoryImportInfo(_Answer):
    id: str
    source: str
    status: Literal["running", "finished", "failed"]
    started_at: datetime
    finished_at: datetime | None
    files: int
    new: int
    modified: int
    withdrawn: int
    unchanged: int
    error_count: int
    errors: list[list[str]] = []
    """[file, reason] of records that could not be read (the first 100): skipped, never half-imported."""
    findings_changed: int
    sboms_rescanned: int
    failure: str | None = None


class AdvisoryStatusQuery(_Request):
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class AdvisoryStatus(_Answer):
    advisories: int
    withdrawn: int
    latest_modified: datetime | None
    imports: list[AdvisoryImportInfo]


class AttestationRef(_Request):
    attestation_id: Id


class AttestationInfo(_Answer):
    id: str
    sbom_id: str | None
    kind: Literal["sbom", "scan"]
    predicate_type: str
    subject_name: str
    subject_sha256: str
    key_id: str
    created_at: datetime


class ListAttestations(_Request):
    sbom_id: Id | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class AttestationList(_Answer):
    items: list[AttestationInfo]


class VerifyEnvelope(_Request):
    """Verify a DSSE envelope the edge stored in the blob store, against the trusted keys."""

    blob: BlobReference


class Verification(_Answer):
    verified: Literal[True]
    key_id: str
    """The trusted key that verified it (the current one, or a previous one after a rotation)."""
    predicate_type: str
    subjects: list[dict[str, object]]


class PublicKeysQuery(_Request):
    pass


class PublicKey(_Answer):
    key_id: str
    pem: str
    current: bool


class PublicKeys(_Answer):
    keys: list[PublicKey]


class FindingsChanged(_Answer):
    """Findings of a team's SBOMs appeared, changed or were retired (an import or a new SBOM)."""

    team_id: str
    cause: Literal["advisory_import", "sbom_scanned", "artifact_published", "upstream_fetched"]
    sbom_ids: list[str]
    new: int
    updated: int
    retired: int
    highest_rating: SeverityRating | None
    """The highest rating of the new and changed findings; None when none of them is rated."""
    advisory_ids: list[str]
    """The advisories concerned (at most 100)."""
    unrated: int = 0
    """Of the new and changed findings, those whose advisory gives no severity (no CVSS score nor
    rating). 0 on events of agents from before it was sent."""


class FindingSummaryQuery(_Request):
    """The team's findings counted (all its SBOMs, or one)."""

    sbom_id: Id | None = None


class FindingSummary(_Answer):
    """The team's findings that are not retired, counted by the database (not a page of them).

    A finding is open while its triage is `under_investigation` (where every finding starts) or
    `affected`: what the download policy blocks on. Findings are per SBOM: the same vulnerable
    component version in two SBOMs is two findings (`versions` counts it once)."""

    open: int
    """Open findings."""
    by_severity: dict[str, int]
    """Open findings by severity rating (`critical`, `high`, `medium`, `low`, `none`, and `unrated` for
    advisories without one); every rating is present, zero when none."""
    by_triage: dict[str, int]
    """Every finding not retired by triage status (`under_investigation`, `affected`, `not_affected`,
    `fixed`); every status is present, zero when none."""
    packages: int
    """Vulnerable packages (ecosystem and name) with an open finding."""
    versions: int
    """Vulnerable package versions (ecosystem, name and version) with an open finding."""
    sboms: int
    """SBOMs (the team's versions, upstream versions it took, uploads and lockfiles) with an open finding."""
    advisories: int
    """Advisories with an open finding."""
