"""The Packages pages: search the team's registry, a package with its versions, files and digests,
dependencies and dependents, upload history and readme, the version's SBOM (CycloneDX and SPDX
downloads) with its findings and their triage, and the client configuration.

Pure: the forms' strings in, the API's queries out; `GET /api/v1/registry/...` answers in, rows out.
Links to a package carry its name percent-encoded as one path segment (npm's `@scope/name` holds a
slash), as the API's own routes take it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from services.dashboard import supply_chain as sc
from services.dashboard.answers import Unavailable
from shared.messages.artifacts import (
    Dependency,
    Ecosystem,
    FileInfo,
    PackageNameText,
    PackageVersions,
    SearchResults,
    VersionInfo,
    VersionText,
    scoped_name_for_npm_only,
)
from shared.messages.fields import Text
from shared.messages.supply_chain import FindingList, SbomList

PAGE_SIZE = 20
DEPENDENTS_SHOWN = 20
# The upload history reads each version's files: this many of the newest versions, one call each.
HISTORY_VERSIONS = 20
KEY_PLACEHOLDER = "<API_KEY>"
PATH = "/dashboard/packages"
SETUP_PATH = PATH + "/setup"
ECOSYSTEM_WORDS = {
    Ecosystem.PYPI: "Python",
    Ecosystem.NPM: "npm",
    Ecosystem.GOLANG: "Go",
    Ecosystem.MAVEN: "Maven",
    Ecosystem.CARGO: "Cargo",
}
OFFERED_ECOSYSTEMS = (Ecosystem.PYPI, Ecosystem.NPM)


def _blank_is_none(value: Any) -> Any:
    """A form's empty field is no filter (browsers send `?license=` for an empty input)."""
    return None if isinstance(value, str) and not value.strip() else value


Blank = BeforeValidator(_blank_is_none)
Short = Annotated[Text, StringConstraints(max_length=200)]


class SearchForm(BaseModel):
    """The Packages page's query string: the search box, its filters and the page."""

    model_config = ConfigDict(extra="ignore")

    q: Annotated[Short | None, Blank] = None
    ecosystem: Annotated[Ecosystem | None, Blank] = None
    license: Annotated[Short | None, Blank] = None
    depends_on: Annotated[PackageNameText | None, Blank] = None
    offset: Annotated[int, Field(ge=0, le=10_000)] = 0

    @model_validator(mode="after")
    def _scoped_name_for_npm_only(self) -> SearchForm:
        scoped_name_for_npm_only(self.ecosystem, self.depends_on)
        return self

    def query(self) -> dict[str, Any]:
        """`GET /api/v1/registry/packages`'s parameters."""
        return {
            "q": self.q,
            "ecosystem": self.ecosystem.value if self.ecosystem else None,
            "license": self.license,
            "depends_on": self.depends_on,
            "limit": PAGE_SIZE,
            "offset": self.offset,
        }

    @property
    def filtered(self) -> bool:
        return any((self.q, self.ecosystem, self.license, self.depends_on))

    def href(self, offset: int) -> str:
        fields = {k: v for k, v in self.query().items() if k not in ("limit", "offset") and v}
        if offset:
            fields["offset"] = offset
        return f"{PATH}?{urlencode(fields)}" if fields else PATH


class _PackageNamed(BaseModel):
    """A form naming a package of an ecosystem: a scoped `@scope/name` only in npm."""

    @model_validator(mode="after")
    def _scoped_name_for_npm_only(self) -> _PackageNamed:
        scoped_name_for_npm_only(getattr(self, "ecosystem", None), getattr(self, "name", None))
        return self


class PackageQuery(_PackageNamed):
    """The package page's path and query: which version's files, dependencies and readme to show."""

    model_config = ConfigDict(extra="ignore")

    ecosystem: Ecosystem
    name: PackageNameText
    version: Annotated[VersionText | None, Blank] = None


class VersionForm(_PackageNamed):
    """The yank / unyank / delete forms (htmx sends every field as a string)."""

    model_config = ConfigDict(extra="forbid")

    ecosystem: Ecosystem
    name: PackageNameText
    version: VersionText
    reason: Annotated[Annotated[Text, StringConstraints(max_length=500)] | None, Blank] = None
    # Delete despite the delete policy (an owner's or admin's `artifacts:delete_override`).
    force: bool = False

    def ref(self) -> dict[str, Any]:
        return {"ecosystem": self.ecosystem.value, "name": self.name, "version": self.version}

    def delete_fields(self) -> dict[str, Any]:
        return {**self.ref(), **_forced(self.force, self.reason)}


class PackageForm(_PackageNamed):
    model_config = ConfigDict(extra="forbid")

    ecosystem: Ecosystem
    name: PackageNameText
    reason: Annotated[Annotated[Text, StringConstraints(max_length=500)] | None, Blank] = None
    force: bool = False

    def ref(self) -> dict[str, Any]:
        return {"ecosystem": self.ecosystem.value, "name": self.name}

    def delete_fields(self) -> dict[str, Any]:
        return {**self.ref(), **_forced(self.force, self.reason)}


# The refusals of the delete policy (ours, and npm's unpublish rules) that an override gets past.
OVERRIDABLE_REFUSALS = frozenset({"delete_refused", "unpublish_refused"})


def _forced(force: bool, reason: str | None) -> dict[str, Any]:
    if not force:
        return {}
    return {"force": True, **({"reason": reason} if reason else {})}


def override_offer(problem: Unavailable | None, form: VersionForm | PackageForm) -> dict[str, Any] | None:
    """What the "Delete anyway" form re-sends when the delete was refused by policy (not otherwise,
    nor when it was already forced): the same delete, forced."""
    if problem is None or problem.code not in OVERRIDABLE_REFUSALS or form.force:
        return None
    return {**form.ref(), "force": True}


def package_href(ecosystem: Ecosystem | str, name: str, version: str | None = None) -> str:
    path = f"{PATH}/{quote(str(ecosystem), safe='')}/{quote(name, safe='')}"
    return f"{path}?{urlencode({'version': version})}" if version else path


# -- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    ecosystem: str
    ecosystem_word: str
    name: str
    display_name: str
    latest: str | None
    summary: str | None
    license: str | None
    updated_at: datetime
    href: str


@dataclass(frozen=True)
class Pager:
    first: int  # 1-based position of the first row shown
    last: int
    total: int
    previous: str | None
    next: str | None


def result_rows(results: SearchResults) -> list[PackageRow]:
    return [
        PackageRow(
            ecosystem=p.ecosystem.value,
            ecosystem_word=ECOSYSTEM_WORDS[p.ecosystem],
            name=p.name,
            display_name=p.display_name,
            latest=p.latest or p.stable,
            summary=p.summary,
            license=p.license,
            updated_at=p.updated_at,
            href=package_href(p.ecosystem, p.name),
        )
        for p in results.items
    ]


def pager(form: SearchForm, results: SearchResults) -> Pager:
    previous = None
    if form.offset > 0:
        previous = form.href(max(0, form.offset - PAGE_SIZE))
    following = form.href(results.next_offset) if results.next_offset is not None else None
    shown = len(results.items)
    return Pager(form.offset + (1 if shown else 0), form.offset + shown, results.total, previous, following)


# -- a package ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: str
    published_at: datetime
    prerelease: bool
    yanked: bool
    yanked_reason: str | None
    files: int
    latest: bool
    stable: bool
    selected: bool
    href: str


@dataclass(frozen=True)
class FileRow:
    filename: str
    kind: str
    size: int
    size_text: str
    sha256: str
    integrity: str | None  # npm's `sha512-<base64>` (SRI), when the registry keeps it
    requires_python: str | None
    downloads: int
    uploaded_at: datetime
    uploaded_by: str


@dataclass(frozen=True)
class DependencyRow:
    name: str
    requirement: str
    kind: str
    condition: str | None  # Python: `extra == "x"` / the marker
    href: str


@dataclass(frozen=True)
class UploadRow:
    uploaded_at: datetime
    version: str
    filename: str
    uploaded_by: str
    href: str


def chosen_version(found: PackageVersions, wanted: str | None) -> str | None:
    """The version the page details: the one asked for, else the latest (the first listed when every
    version is yanked), None for a package without versions."""
    listed = [v.version for v in found.versions]
    if wanted is not None:
        return wanted
    if found.package.latest in listed:
        return found.package.latest
    return listed[0] if listed else None


def version_rows(found: PackageVersions, selected: str | None) -> list[VersionRow]:
    package = found.package
    return [
        VersionRow(
            version=v.version,
            published_at=v.published_at,
            prerelease=v.prerelease,
            yanked=v.yanked,
            yanked_reason=v.yanked_reason,
            files=v.files,
            latest=v.version == package.latest,
            stable=v.version == package.stable,
            selected=v.version == selected,
            href=package_href(package.ecosystem, package.name, v.version),
        )
        for v in found.versions
    ]


def size_text(size: int) -> str:
    """1.5 kB, 20.3 MB: decimal units as pip and npm print them."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def integrity(file: FileInfo) -> str | None:
    """npm's integrity string (`sha512-<base64>`) from the file's digests, however it was kept."""
    for key in ("integrity", "sha512"):
        value = file.digests.get(key)
        if not value:
            continue
        if value.startswith("sha512-"):
            return value
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
        if len(raw) == 64:
            return "sha512-" + base64.b64encode(raw).decode()
    return None


def uploader_name(uploader: str | None, people: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """Who published: a member's login, an API key's name, or the id when neither list has it (a
    member who left, a revoked key, or lists the reader may not see)."""
    if uploader is None:
        return "unknown"
    if uploader in people:
        return people[uploader]
    if uploader in keys:
        return f"API key “{keys[uploader]}”"
    return uploader


def file_rows(info: VersionInfo, people: Mapping[str, str], keys: Mapping[str, str]) -> list[FileRow]:
    return [
        FileRow(
            filename=f.filename,
            kind=f.kind,
            size=f.size,
            size_text=size_text(f.size),
            sha256=f.sha256,
            integrity=integrity(f),
            requires_python=f.requires_python,
            downloads=f.downloads,
            uploaded_at=f.uploaded_at,
            uploaded_by=uploader_name(f.uploaded_by, people, keys),
        )
        for f in info.files
    ]


def _condition(dependency: Dependency) -> str | None:
    parts = [f'extra == "{dependency.extra}"'] if dependency.extra else []
    if dependency.marker:
        parts.append(dependency.marker)
    return " and ".join(parts) or None


def dependency_rows(info: VersionInfo) -> list[DependencyRow]:
    return [
        DependencyRow(
            name=d.name,
            requirement=d.requirement or "any",
            kind=d.kind.value,
            condition=_condition(d),
            href=package_href(info.ecosystem, d.name),
        )
        for d in info.dependencies
    ]


def dependents_href(ecosystem: Ecosystem, name: str) -> str:
    return f"{PATH}?{urlencode({'ecosystem': ecosystem.value, 'depends_on': name})}"


def upload_rows(
    versions: Iterable[VersionInfo], people: Mapping[str, str], keys: Mapping[str, str]
) -> list[UploadRow]:
    """Every file of these versions, newest upload first."""
    rows = [
        UploadRow(
            uploaded_at=f.uploaded_at,
            version=v.version,
            filename=f.filename,
            uploaded_by=uploader_name(f.uploaded_by, people, keys),
            href=package_href(v.ecosystem, v.name, v.version),
        )
        for v in versions
        for f in v.files
    ]
    return sorted(rows, key=lambda r: (r.uploaded_at, r.filename), reverse=True)


# -- client configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientConfig:
    index_url: str  # the pip index, with the key's place marked
    upload_url: str  # twine's repository URL (the legacy upload API)
    pip: str
    pip_conf: str
    pypirc: str
    npm_registry: str
    npmrc: str
    twine: str  # with ~/.pypirc
    twine_line: str  # on its own, nothing configured
    npm_line: str  # writes the .npmrc lines into ~/.npmrc (npm 7 and later)


def client_config(base_url: str, team_id: str) -> ClientConfig:
    """The configuration of pip, twine and npm for the team's registry at `base_url`, with a
    placeholder where the API key goes: the page never shows a real key."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    root = f"{base}/registry/{team_id}"
    index = f"{parts.scheme}://__token__:{KEY_PLACEHOLDER}@{parts.netloc}{parts.path}/registry/{team_id}/pypi/simple/"
    npm_registry = f"{root}/npm/"
    # npm keys credentials by the registry URL without its scheme (`//host/path/:_authToken=`).
    npm_key = npm_registry.split(":", 1)[1]
    upload = f"{root}/pypi/legacy/"
    return ClientConfig(
        index_url=index,
        upload_url=upload,
        pip=f"pip install --index-url {index} PACKAGE",
        pip_conf=f"[global]\nindex-url = {index}\n",
        pypirc=(
            "[distutils]\nindex-servers =\n    team\n\n[team]\n"
            f"repository = {upload}\nusername = __token__\npassword = {KEY_PLACEHOLDER}\n"
        ),
        twine="twine upload --repository team dist/*",
        twine_line=f"twine upload --repository-url {upload} -u __token__ -p {KEY_PLACEHOLDER} dist/*",
        npm_registry=npm_registry,
        npmrc=f"registry={npm_registry}\n{npm_key}:_authToken={KEY_PLACEHOLDER}\n",
        # npm 7 and later set several key=value pairs in one `npm config set`.
        npm_line=f"npm config set registry={npm_registry} {npm_key}:_authToken={KEY_PLACEHOLDER}",
    )


# -- the version's SBOM and findings -----------------------------------------------------------

SBOMS = "/api/v1/sboms"
# A version's findings read at once (GET /api/v1/vulnerabilities?sbom_id=...&limit=).
VERSION_FINDINGS = 500


def sbom_query(ecosystem: Ecosystem, name: str, version: str) -> dict[str, Any]:
    """`GET /api/v1/sboms`'s parameters for the SBOM the supply chain made of a registry version."""
    return {
        "source": "artifact",
        "subject_ecosystem": ecosystem.value,
        "subject_name": name,
        "subject_version": version,
        "limit": 1,
    }


def sbom_download(sbom_id: str, document_format: str) -> str:
    """The SBOM download API route (`GET /api/v1/sboms/{sbom_id}/document?format=`)."""
    return f"{SBOMS}/{quote(sbom_id, safe='')}/document?{urlencode({'format': document_format})}"


@dataclass(frozen=True)
class VersionFindingRow:
    id: str
    advisory_id: str
    aliases: str
    summary: str | None
    severity: str  # a rating's value, or `unrated`
    severity_words: str
    score: float | None
    component: str  # the vulnerable dependency (name and version)
    fixed: str
    triage: str  # in words
    status: str  # the triage status's value, `untriaged` when none
    open: bool


@dataclass(frozen=True)
class VersionSbom:
    sbom_id: str
    components: int
    scanned_at: datetime
    cyclonedx_href: str
    spdx_href: str
    findings: tuple[VersionFindingRow, ...]
    open_findings: int
    limited: bool  # more findings than were read
    cyclonedx_vex_href: str
    # None when no finding is open: OpenVEX has no empty document (the API answers 409).
    openvex_href: str | None


def version_sbom(found: SbomList, findings: FindingList | None) -> VersionSbom | None:
    """The version's SBOM (None when the supply chain has made none yet) with its findings, worst
    first, open ones (untriaged, under investigation, affected) before those triaged away."""
    if not found.items:
        return None
    sbom = found.items[0]
    rows = []
    for f in findings.items if findings is not None else []:
        if f.id is None:
            continue
        rating = f.severity.rating.value if f.severity.rating is not None else sc.UNRATED
        rows.append(
            VersionFindingRow(
                f.id,
                f.advisory_id,
                ", ".join(a for a in f.aliases if a != f.advisory_id),
                f.summary,
                rating,
                sc.SEVERITY_WORDS[rating],
                f.severity.score,
                f"{f.package} {f.version}",
                ", ".join(f.fixed_versions) or "no fix known",
                sc.TRIAGE_WORDS[f.triage],
                f.triage.value if f.triage is not None else "untriaged",
                sc.is_open(f),
            )
        )
    rows.sort(key=lambda r: (not r.open, sc.SEVERITY_ORDER.index(r.severity), r.component, r.advisory_id))
    return VersionSbom(
        sbom.id,
        sbom.components,
        sbom.scanned_at,
        sbom_download(sbom.id, "cyclonedx"),
        sbom_download(sbom.id, "spdx"),
        tuple(rows),
        sum(1 for r in rows if r.open),
        findings is not None and findings.next_offset is not None,
        sc.sbom_href(sbom.id, "vex", "cyclonedx"),
        sc.sbom_href(sbom.id, "vex", "openvex") if sum(sbom.findings.values()) else None,
    )
