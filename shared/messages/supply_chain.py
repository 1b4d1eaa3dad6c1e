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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.messages.artifacts import BlobReference, FilenameText
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


class TriageInfo(_Answer):
    advisory_id: str
    purl: str
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


class TriageRequest(_Request):
    """A VEX decision about a finding's advisory in its component (every SBOM naming that component
    version shares it)."""

    finding_id: Id
    status: TriageStatus
    justification: Annotated[Text, StringConstraints(max_length=100)] | None = None
    impact_statement: ShortText | None = None
    action_statement: ShortText | None = None
    note: ShortText | None = None


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
    advisory_ids: list[str]
    """The advisories concerned (at most 100)."""
