"""Wire models of the artifact registry: one metadata model for every ecosystem (Python and npm
today; Go, Maven and Cargo later), and the requests and answers of the ArtifactManagerAgent.

Bytes never travel in these messages: the edge streams a package into the blob store and hands the
agent a `BlobReference`; downloads are resolved to a blob digest the edge streams back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.messages.fields import TEXT_PATTERN, Text

SHA256_PATTERN = r"^[0-9a-f]{64}$"
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
# A package or version as it appears in a URL: any text without control characters or a slash
# (npm's scoped names travel URL-encoded); each ecosystem's rules decide what is valid beyond that.
NameText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f/]+$", max_length=214)]
VersionText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f/]+$", max_length=128)]
# A package name as the REST API and the dashboard take it, in any ecosystem: `NameText`, or npm's
# scoped `@scope/name` (exactly one slash, after the scope; its path segment is `@scope%2Fname`).
# The models carrying an ecosystem refuse the scoped form outside npm (`scoped_name_for_npm_only`).
PackageNameText = Annotated[
    str,
    StringConstraints(pattern=r"^(?:@[^\x00-\x1f\x7f-\x9f/]+/)?[^\x00-\x1f\x7f-\x9f/]+$", max_length=214),
]
FilenameText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f/\\]+$", max_length=255)]
TeamPath = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{1,36}$")]
# An npm package name as its routes carry it: a scoped name holds one slash (`@scope/name`).
NpmNameText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f]+$", max_length=214)]
NpmTagText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f-\x9f/]+$", max_length=128)]
# The JSON document npm PUTs (a publish without its tarball's base64, or a packument rewrite), as
# text: bounded so a message stays well inside NATS' max_payload once the envelope escapes it.
NPM_DOCUMENT_MAX_CHARS = 256 * 1024
NpmDocumentText = Annotated[str, StringConstraints(pattern=TEXT_PATTERN, max_length=NPM_DOCUMENT_MAX_CHARS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ecosystem(StrEnum):
    """The package ecosystems, named by their purl types."""

    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"
    CARGO = "cargo"


def scoped_name_for_npm_only(ecosystem: Ecosystem | None, name: str | None) -> None:
    """Refuse a `PackageNameText` holding a slash (a scoped `@scope/name`) outside npm."""
    if name is not None and "/" in name and ecosystem is not None and ecosystem is not Ecosystem.NPM:
        raise ValueError(f"only npm names hold a '/' (@scope/name), not {ecosystem.value} ones")


class DependencyKind(StrEnum):
    RUNTIME = "runtime"
    DEV = "dev"
    OPTIONAL = "optional"
    PEER = "peer"
    BUILD = "build"
    TEST = "test"


class Dependency(_Model):
    name: Text  # normalised by the ecosystem's rules, so reverse look-ups match every spelling
    requirement: Text  # the ecosystem's own specifier syntax (`>=1,<2`, `^1.2.0`), "" for any
    kind: DependencyKind = DependencyKind.RUNTIME
    extra: Text | None = None  # Python: the extra that pulls it in
    marker: Text | None = None  # Python: the environment marker


class FileInfo(_Model):
    filename: Text
    size: int
    sha256: Sha256
    # The ecosystem's own digests besides SHA-256: md5 and blake2b_256 (Python), sha512 (npm integrity).
    digests: dict[str, str] = {}
    kind: Text  # wheel, sdist, tarball, ...
    requires_python: Text | None = None
    uploaded_at: datetime
    uploaded_by: Text | None = None
    # SHA-256 of the file's core metadata, served beside it (PEP 658/714); None when not extracted.
    core_metadata_sha256: Sha256 | None = None
    downloads: int = 0


class VersionInfo(_Model):
    ecosystem: Ecosystem
    name: Text  # normalised
    display_name: Text  # as the publisher spelled it
    version: Text
    summary: Text | None = None
    description: str | None = None  # an answer only: a readme is shown as written
    description_content_type: Text | None = None
    license: Text | None = None  # an SPDX expression where the metadata gives one
    # The SPDX ids the licence names (licences and exceptions, canonical spelling), read from the
    # expression, a free-text licence or Python's licence classifiers: what the licence filter matches.
    license_ids: list[Text] = []
    authors: list[Text] = []
    homepage: Text | None = None
    repository: Text | None = None
    keywords: list[Text] = []
    dependencies: list[Dependency] = []
    files: list[FileInfo] = []
    purl: Text
    published_at: datetime
    published_by: Text | None = None
    yanked: bool = False
    yanked_reason: Text | None = None
    deprecated: Text | None = None
    # Python: the core metadata fields an sdist leaves to build time (PEP 643 `Dynamic`, metadata
    # 2.2), while the version has no wheel (a wheel's metadata then replaces the sdist's).
    dynamic: list[Text] = []


# --- publish -----------------------------------------------------------------------------------------


class BlobReference(_Model):
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]


class StorageQuota(_Model):
    """The plan's `artifact_storage_bytes` for the publisher's account, set by the edge (plans are the
    SuperAgent's); the agent, which owns what is stored, enforces it in the publish transaction."""

    account_id: Text
    team_ids: list[Text]
    max_bytes: int
    plan: Text


class PythonUploadFields(_Model):
    """The protocol fields of twine's `file_upload` form that the registry reads. The metadata fields
    twine also sends (summary, description, ...) are not forwarded: metadata is read from the file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Annotated[Text, Field(alias=":action")]
    protocol_version: Text | None = None
    name: Text
    version: Text
    filetype: Text
    pyversion: Text | None = None
    metadata_version: Text | None = None
    sha256_digest: Text | None = None
    md5_digest: Text | None = None
    blake2_256_digest: Text | None = None


class PublishArtifact(_Model):
    ecosystem: Ecosystem
    filename: FilenameText
    blob: BlobReference
    python: PythonUploadFields | None = None
    quota: StorageQuota | None = None


class PublishedArtifact(_Model):
    version: VersionInfo
    file: FileInfo
    new_version: bool


# --- reads for the package clients --------------------------------------------------------------------


class PythonPageRequest(_Model):
    """A PEP 503/691 page: the project list (project None) or one project's files."""

    project: NameText | None = None
    accept: Annotated[Text, StringConstraints(max_length=1000)] | None = None  # the client's header


class PythonPage(_Model):
    media_type: Text
    body: str
    # Set when the project was asked for by a name that is not its normalised form (PEP 503: redirect).
    canonical: Text | None = None
    # The edge may keep this answer for the team until a `RegistryChanged` notice (or its cache's
    # expiry): set for what only the team's own commits change (see `RegistryChanged`).
    cacheable: bool = False


class FileRequest(_Model):
    ecosystem: Ecosystem
    filename: FilenameText
    sha256: Sha256 | None = None
    # The file's core metadata (PEP 658) rather than the file itself; not counted as a download.
    core_metadata: bool = False


class FileLocation(_Model):
    filename: Text
    blob_sha256: Sha256
    size: int
    content_type: Text
    # The edge may keep this answer for the team until a `RegistryChanged` notice (or its cache's
    # expiry): a file of the team's own (an upstream's is decided afresh: its quarantine moves with
    # the clock). A download answered from the edge's cache is counted against `file_id` (the
    # team's row in `files`), in a `DownloadsCounted` batch; None: not counted (core metadata).
    cacheable: bool = False
    file_id: int | None = None


class DownloadCount(_Model):
    team_id: Text
    file_id: int
    count: Annotated[int, Field(ge=1)]


# Distinct (team, file) pairs one batch carries: an edge sends a batch as soon as it holds this many.
DOWNLOAD_BATCH_MAX_FILES = 500


class DownloadsCounted(_Model):
    """Downloads an edge answered from its cache of file locations (the ArtifactManagerAgent counted
    the ones it resolved itself), summed per team and file since the edge's previous batch."""

    counts: Annotated[list[DownloadCount], Field(min_length=1, max_length=DOWNLOAD_BATCH_MAX_FILES)]


class RegistryChanged(_Model):
    """Broadcast by the ArtifactManagerAgent after a commit that changes what a team's registry reads
    answer (a publish, yank, delete, dist-tag, deprecation, unpublish, or a download decision of the
    SupplyChainAgent applied): edges drop the team's cached registry answers. `ecosystem` and `name`
    say what changed, when one package did (for logs; the edge drops the whole team either way)."""

    team_id: Text
    ecosystem: Ecosystem | None = None
    name: Text | None = None


# --- the REST API --------------------------------------------------------------------------------------


class _PackageNamed(_Model):
    """A model naming a package of an ecosystem: a scoped `@scope/name` only in npm."""

    @model_validator(mode="after")
    def _scoped_name_for_npm_only(self) -> _PackageNamed:
        scoped_name_for_npm_only(getattr(self, "ecosystem", None), getattr(self, "name", None))
        return self


class PackageRef(_PackageNamed):
    ecosystem: Ecosystem
    name: PackageNameText


class VersionRef(_PackageNamed):
    ecosystem: Ecosystem
    name: PackageNameText
    version: VersionText


class YankRequest(_PackageNamed):
    ecosystem: Ecosystem
    name: PackageNameText
    version: VersionText
    reason: Annotated[Text, StringConstraints(max_length=500)] | None = None


# Why a forced delete was asked: recorded with the override in the audit log.
DeleteReasonText = Annotated[Text, StringConstraints(max_length=500)]


class DeleteVersionRequest(_PackageNamed):
    """A REST delete of a version. `force` overrides a refusal of the delete policy (or, for npm, of
    its unpublish policy): it needs `artifacts:delete_override` (owners and admins) besides
    `artifacts:delete`, and is audited with the rule it overrode and `reason`."""

    ecosystem: Ecosystem
    name: PackageNameText
    version: VersionText
    force: bool = False
    reason: DeleteReasonText | None = None


class DeletePackageRequest(_PackageNamed):
    """A REST delete of a package with every version; `force` and `reason` as `DeleteVersionRequest`."""

    ecosystem: Ecosystem
    name: PackageNameText
    force: bool = False
    reason: DeleteReasonText | None = None


class PackageSummary(_Model):
    ecosystem: Ecosystem
    name: Text
    display_name: Text
    latest: Text | None  # the highest version, pre-releases included, yanked ones not
    stable: Text | None  # the highest non-pre-release, non-yanked version
    summary: Text | None = None
    license: Text | None = None
    license_ids: list[Text] = []  # as VersionInfo's, of the version shown
    keywords: list[Text] = []
    versions: int
    downloads: int
    updated_at: datetime


class VersionSummary(_Model):
    version: Text
    published_at: datetime
    yanked: bool
    yanked_reason: Text | None = None
    prerelease: bool
    files: int


class PackageVersions(_Model):
    package: PackageSummary
    versions: list[VersionSummary]  # newest first by the ecosystem's ordering


class SearchQuery(_Model):
    q: Annotated[Text, StringConstraints(max_length=200)] | None = None
    ecosystem: Ecosystem | None = None
    # An SPDX id or expression (`MIT`, `MIT OR Apache-2.0`, `GPL-2.0-only WITH Classpath-exception-2.0`)
    # matched against the ids each package's licence names; other text, against the licence as written.
    license: Annotated[Text, StringConstraints(max_length=200)] | None = None
    # Reverse dependencies: packages whose latest version depends on this name.
    depends_on: PackageNameText | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=10_000)] = 0

    @model_validator(mode="after")
    def _scoped_name_for_npm_only(self) -> SearchQuery:
        scoped_name_for_npm_only(self.ecosystem, self.depends_on)
        return self


class SearchResults(_Model):
    items: list[PackageSummary]
    total: int
    # True when more than the registry's count cap match: `total` is then the planner's estimate.
    total_is_estimate: bool = False
    next_offset: int | None


class DeleteOverride(_Model):
    """A refusal a forced delete overrode: the refusal's code (`delete_refused`, npm's
    `unpublish_refused`), the rule it named, its message, and the version it was about (None: the
    refusal covered every version deleted)."""

    code: Text
    rule: Text
    message: Text
    version: Text | None = None


class DeletedArtifacts(_Model):
    ecosystem: Ecosystem
    name: Text
    versions: list[Text]
    files: list[Text]
    # What `force` overrode; empty when the delete policy allowed the delete by itself.
    overridden: list[DeleteOverride] = []


class ArtifactPublished(_Model):
    """A file was published (the SupplyChainAgent builds SBOMs and scans from it)."""

    team_id: Text
    ecosystem: Ecosystem
    name: Text
    version: Text
    purl: Text
    file: FileInfo
    dependencies: list[Dependency] = []


class UpstreamVersion(_Model):
    """A version a team's index serves from its upstream (`registry.upstreams`), named as the registry
    keys it (PyPI: PEP 503 name, PEP 440 normal version), with the first file the team took of it.

    The SupplyChainAgent matches it against the advisories as an SBOM of one component (source
    `upstream`), so the team's download policy blocks it as it blocks the team's own versions. It
    travels as the event `upstream_version_fetched` (written to the outbox with the file's first row)
    and as the request `upstream_version`, asked before a team whose policy blocks downloads gets a
    version it never had (the answer: whether the policy blocks it now)."""

    team_id: Text
    ecosystem: Ecosystem
    upstream: Text
    name: Text
    version: Text
    filename: FilenameText
    sha256: Sha256


class StoredVersionsQuery(_Model):
    """A page of every team's stored versions, oldest first (the SupplyChainAgent's SBOM backfill)."""

    after: Annotated[int, Field(ge=0)] = 0  # `next_after` of the previous page
    limit: Annotated[int, Field(ge=1, le=500)] = 200


class StoredVersions(_Model):
    # Each version as its publish event described it (its first file), to be handled the same way.
    items: list[ArtifactPublished]
    next_after: int | None


# --- npm ------------------------------------------------------------------------------------------------


class NpmPublishRequest(_Model):
    """`npm publish`: the PUT document with its attachment's `data` taken out (the edge decoded it into
    the blob store: `blob`); the agent checks the document, the tarball's digests and contents."""

    name: NpmNameText
    document: NpmDocumentText
    blob: BlobReference
    quota: StorageQuota | None = None


class NpmPackumentRequest(_Model):
    name: NpmNameText
    abbreviated: bool = False
    # Where tarballs are served from (`<edge>/registry/<team>/npm`): the edge names itself.
    registry_url: Annotated[Text, StringConstraints(max_length=2000)]


class NpmDocument(_Model):
    """A JSON document for npm, rendered by the agent and relayed by the edge as it is: in `body`, or,
    when it is too large for a message (an upstream's packument of a popular package runs to
    megabytes), in the blob store (`blob`, `body` empty), from where the edge streams it."""

    body: str
    blob: BlobReference | None = None
    # The edge may keep this answer for the team until a `RegistryChanged` notice (or its cache's
    # expiry): set for a package of the team's own, never for a blob (an upstream's document).
    cacheable: bool = False


class NpmTarballRequest(_Model):
    name: NpmNameText
    filename: FilenameText  # as the packument's tarball URL names it: `name-1.0.0.tgz`, no scope


class NpmPackageRequest(_Model):
    name: NpmNameText


class NpmDistTagRequest(_Model):
    name: NpmNameText
    tag: NpmTagText
    version: VersionText | None = None  # to add or move a tag; None to remove it


class NpmDistTags(_Model):
    tags: dict[Text, Text]


class NpmDeprecateRequest(_Model):
    """`npm deprecate`: the packument PUT back with `deprecated` set (or emptied) on versions."""

    name: NpmNameText
    document: NpmDocumentText


class NpmDeprecated(_Model):
    name: Text
    # The versions whose deprecation changed, with the new message (None: no longer deprecated).
    changed: dict[Text, Text | None]


class NpmUnpublishRequest(_Model):
    """`npm unpublish`: `document` (the packument without the versions to remove, PUT to `-rev`),
    `filename` (a tarball DELETEd after that), or neither (DELETE of the whole package). `rev` is the
    `_rev` npm read: a stale one is a conflict."""

    name: NpmNameText
    rev: Annotated[Text, StringConstraints(max_length=100)]
    document: NpmDocumentText | None = None
    filename: FilenameText | None = None
