"""The Packages pages' pure parts: readmes rendered safely, search forms, rows, digests, client config,
a version's SBOM downloads and findings."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from pydantic import ValidationError

from services.dashboard import packages, readme
from services.dashboard.answers import Unavailable, unavailable
from shared.messages.artifacts import (
    Ecosystem,
    FileInfo,
    PackageSummary,
    PackageVersions,
    SearchResults,
    VersionInfo,
    VersionSummary,
)
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.supply_chain import (
    FindingInfo,
    FindingList,
    SbomInfo,
    SbomList,
    Severity,
    SeverityRating,
    TriageStatus,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Unsafe(HTMLParser):
    """Whatever in rendered HTML could run script or load from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "style", "img", "form", "base", "meta", "link"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag}[{name}]")
            if (
                name in ("href", "src", "action")
                and value
                and value.strip().lower().startswith(("javascript:", "data:", "vbscript:"))
            ):
                self.found.append(f"{tag}[{name}={value}]")


def unsafe(html: str) -> list[str]:
    parser = Unsafe()
    parser.feed(html)
    return parser.found


HOSTILE = {
    "text/markdown": (
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x alt=pic onerror=alert(2)>\n\n"
        '[a](javascript:alert(3)) <a href="JaVaScRiPt:alert(4)" onclick="x()">b</a> '
        '<a href="data:text/html,<script>alert(5)</script>">c</a>\n\n'
        '<div style="x" onmouseover="y">d</div> <iframe src="//evil"></iframe> <svg onload=alert(6)></svg>\n'
    ),
    "text/x-rst": (
        "Title\n=====\n\n`a <javascript:alert(1)>`_ and `ok <https://example.com>`_\n\n"
        ".. image:: https://evil/x.png\n   :alt: pic\n"
    ),
    "text/plain": "<script>alert(1)</script> <img src=x onerror=alert(2)>",
}


@pytest.mark.parametrize("content_type", sorted(HOSTILE))
def test_a_hostile_readme_renders_without_script_handlers_or_script_urls(content_type: str) -> None:
    """Markdown, reST and plain text with <script>, on* handlers, javascript:/data: links, iframes and
    images come out with none of them (images become their alt text), the text kept."""
    html = readme.render(HOSTILE[content_type], content_type)
    assert html is not None
    assert unsafe(str(html)) == []
    assert "Title" in html or "alert(1)" in html  # the text is shown, as text


def test_readme_renderers_follow_the_content_type() -> None:
    """Markdown headings and code, reST sections, plain text escaped; an invalid reST readme falls back
    to plain text; no readme is None; headings' empty self-links are dropped."""
    md = readme.render("# Hello\n\n```python\nprint(1)\n```\n", "text/markdown; variant=GFM")
    assert md is not None
    assert "<h1" in md
    assert "Hello</h1>" in md
    assert "<pre" in md
    assert "<a " not in md
    rst = readme.render("Hello\n=====\n\nSome *text*.\n", None)
    assert rst is not None
    assert "<h1>Hello</h1>" in rst
    assert "<em>text</em>" in rst
    broken = readme.render("Hello\n==\n\n.. raw:: html\n\n   <b>x</b>\n", "text/x-rst")
    assert broken is not None
    assert "&lt;b&gt;" in broken
    assert readme.render("a <b>", "text/plain") == "a &lt;b&gt;"
    assert readme.render("", "text/markdown") is None
    assert readme.render(None, None) is None
    pic = readme.render('![a "quoted" <b> logo](https://x/y.png)', "text/markdown")
    assert pic is not None
    assert "[image: a &#34;quoted&#34; &lt;b&gt; logo]" in pic


def test_search_form_reads_blank_fields_as_no_filter_and_pages() -> None:
    """Empty inputs are no filter; the pager's links keep the filters and move by a page."""
    form = packages.SearchForm.model_validate(
        {"q": "req", "ecosystem": "", "license": " ", "depends_on": "", "offset": "20"}
    )
    assert form.query() == {
        "q": "req",
        "ecosystem": None,
        "license": None,
        "depends_on": None,
        "limit": packages.PAGE_SIZE,
        "offset": 20,
    }
    results = SearchResults(items=[_summary("a")], total=41, next_offset=40)
    pager = packages.pager(form, results)
    assert (pager.first, pager.last, pager.total) == (21, 21, 41)
    assert pager.previous == "/dashboard/packages?q=req"
    assert pager.next == "/dashboard/packages?q=req&offset=40"
    with pytest.raises(ValidationError):
        packages.SearchForm.model_validate({"ecosystem": "cobol"})
    with pytest.raises(ValidationError):
        packages.SearchForm.model_validate({"q": "x" * 201})


def test_package_links_encode_scoped_npm_names_as_one_segment() -> None:
    """`@scope/name` is one path segment in links, as the API's `{name}` takes it."""
    assert packages.package_href(Ecosystem.NPM, "@acme/ui") == "/dashboard/packages/npm/%40acme%2Fui"
    assert packages.package_href("pypi", "a-b", "1.0rc1") == "/dashboard/packages/pypi/a-b?version=1.0rc1"


def test_versions_mark_latest_stable_and_the_chosen_one() -> None:
    """Latest and stable are the API's; the default version is the latest, or the newest listed when
    every version is yanked (no latest)."""
    found = PackageVersions(
        package=_summary("lib", latest="2.0rc1", stable="1.0"),
        versions=[_version("2.0rc1", prerelease=True), _version("1.1", yanked=True), _version("1.0")],
    )
    assert packages.chosen_version(found, None) == "2.0rc1"
    assert packages.chosen_version(found, "1.1") == "1.1"
    rows = packages.version_rows(found, "1.0")
    assert [(r.version, r.latest, r.stable, r.selected, r.yanked) for r in rows] == [
        ("2.0rc1", True, False, False, False),
        ("1.1", False, False, False, True),
        ("1.0", False, True, True, False),
    ]
    yanked = PackageVersions(package=_summary("lib", latest=None, stable=None), versions=[_version("1.0")])
    assert packages.chosen_version(yanked, None) == "1.0"


def test_files_show_sizes_digests_and_npm_integrity_however_kept() -> None:
    """Sizes read as pip prints them; npm's sha512 is shown as its SRI integrity whether kept as SRI,
    hex or base64; Python files have none."""
    digest = hashlib.sha512(b"tarball").digest()
    sri = "sha512-" + base64.b64encode(digest).decode()
    for kept in (sri, digest.hex(), base64.b64encode(digest).decode()):
        assert packages.integrity(_file(digests={"sha512": kept})) == sri
    assert packages.integrity(_file(digests={"md5": "0" * 32})) is None
    assert packages.integrity(_file(digests={"sha512": "not a digest"})) is None
    assert [packages.size_text(n) for n in (999, 1500, 20_300_000)] == ["999 B", "1.5 kB", "20.3 MB"]


def test_upload_history_is_newest_first_with_people_and_keys_named() -> None:
    """Every file of the versions, newest upload first; uploaders by login, key name, or id."""
    old = _info("1.0", [_file("a-1.0.tar.gz", T0, "u1"), _file("a-1.0-py3-none-any.whl", T0, "k1")])
    new = _info("1.1", [_file("a-1.1-py3-none-any.whl", T0 + timedelta(days=1), "gone")])
    rows = packages.upload_rows([old, new], {"u1": "alice"}, {"k1": "ci"})
    assert [(r.version, r.filename, r.uploaded_by) for r in rows] == [
        ("1.1", "a-1.1-py3-none-any.whl", "gone"),
        ("1.0", "a-1.0.tar.gz", "alice"),
        ("1.0", "a-1.0-py3-none-any.whl", "API key “ci”"),
    ]


def test_client_config_names_the_edge_and_team_and_never_a_key() -> None:
    """pip's index URL carries `__token__:<API_KEY>` in its authority; ~/.pypirc, twine's one line,
    .npmrc and npm's one line name the team's upload URL and registry; npm's token is keyed by the
    registry without its scheme."""
    config = packages.client_config("https://mno.example.com/", "t-1")
    index = "https://__token__:<API_KEY>@mno.example.com/registry/t-1/pypi/simple/"
    assert config.pip == f"pip install --index-url {index} PACKAGE"
    assert "repository = https://mno.example.com/registry/t-1/pypi/legacy/" in config.pypirc
    assert "password = <API_KEY>" in config.pypirc
    assert config.twine_line == (
        "twine upload --repository-url https://mno.example.com/registry/t-1/pypi/legacy/ "
        "-u __token__ -p <API_KEY> dist/*"
    )
    assert config.npmrc == (
        "registry=https://mno.example.com/registry/t-1/npm/\n"
        "//mno.example.com/registry/t-1/npm/:_authToken=<API_KEY>\n"
    )
    # The same two settings as .npmrc's, in one command.
    assert config.npm_line == (
        "npm config set registry=https://mno.example.com/registry/t-1/npm/ "
        "//mno.example.com/registry/t-1/npm/:_authToken=<API_KEY>"
    )
    assert config.npm_line.removeprefix("npm config set ").split(" ") == config.npmrc.splitlines()


def test_client_config_under_a_path_prefix_keys_npm_by_the_whole_path() -> None:
    """An edge served under a path (`https://host/mno`): every URL keeps the prefix, and npm's token
    key is the registry URL's host and whole path."""
    config = packages.client_config("https://mno.example.com/mno/", "t-1")
    assert config.twine_line.split()[3] == "https://mno.example.com/mno/registry/t-1/pypi/legacy/"
    assert config.npm_line.split()[4] == "//mno.example.com/mno/registry/t-1/npm/:_authToken=<API_KEY>"
    assert "https://__token__:<API_KEY>@mno.example.com/mno/registry/t-1/pypi/simple/" in config.pip


def _summary(name: str, latest: str | None = "1.0", stable: str | None = "1.0") -> PackageSummary:
    return PackageSummary(
        ecosystem=Ecosystem.PYPI,
        name=name,
        display_name=name,
        latest=latest,
        stable=stable,
        versions=1,
        downloads=0,
        updated_at=T0,
    )


def _version(version: str, *, yanked: bool = False, prerelease: bool = False) -> VersionSummary:
    return VersionSummary(version=version, published_at=T0, yanked=yanked, prerelease=prerelease, files=1)


def _file(
    filename: str = "a-1.0.tgz",
    at: datetime = T0,
    by: str | None = None,
    digests: dict[str, str] | None = None,
) -> FileInfo:
    return FileInfo(
        filename=filename,
        size=10,
        sha256="0" * 64,
        digests=digests or {},
        kind="wheel",
        uploaded_at=at,
        uploaded_by=by,
    )


def _info(version: str, files: list[FileInfo]) -> VersionInfo:
    return VersionInfo(
        ecosystem=Ecosystem.PYPI,
        name="a",
        display_name="a",
        version=version,
        files=files,
        purl=f"pkg:pypi/a@{version}",
        published_at=T0,
    )


SBOM_ID = "5a0c4e1b-8d2f-4c3a-9b7e-6f1d2c3b4a59"


def _finding(n: int, rating: SeverityRating | None, triage: TriageStatus | None) -> FindingInfo:
    return FindingInfo(
        id=f"00000000-0000-4000-8000-{n:012d}",
        sbom_id=SBOM_ID,
        advisory_id=f"GHSA-{n}",
        aliases=[f"CVE-2026-{n}", f"GHSA-{n}"],
        summary=f"summary {n}",
        ecosystem="PyPI",
        package=f"dep-{n}",
        version="1.0",
        purl=f"pkg:pypi/dep-{n}@1.0",
        severity=Severity(rating=rating, score=9.8 if rating is SeverityRating.CRITICAL else None),
        fixed_versions=["2.0"] if n % 2 else [],
        path=[],
        triage=triage,
    )


def test_the_version_sbom_is_found_by_its_subject_and_downloads_through_the_api() -> None:
    """The SBOM is asked of `GET /api/v1/sboms` by the registry version (source artifact, purl type,
    name, version); its downloads are the SBOM document route in CycloneDX and SPDX; none found is no
    panel content; the VEX exports of its triage are linked too."""
    assert packages.sbom_query(Ecosystem.NPM, "@acme/ui", "1.2.0") == {
        "source": "artifact",
        "subject_ecosystem": "npm",
        "subject_name": "@acme/ui",
        "subject_version": "1.2.0",
        "limit": 1,
    }
    assert packages.version_sbom(SbomList(items=[], total=0, next_offset=None), None) is None
    sbom = SbomInfo(
        id=SBOM_ID,
        source="artifact",
        subject_ecosystem="pypi",
        subject_name="acme",
        subject_version="1.0",
        document_name=None,
        input_format="artifact",
        components=7,
        created=T0,
        scanned_at=T0,
    )
    shown = packages.version_sbom(
        SbomList(items=[sbom], total=1, next_offset=None), FindingList(items=[], total=0, next_offset=None)
    )
    assert shown is not None
    assert shown.cyclonedx_href == f"/api/v1/sboms/{SBOM_ID}/document?format=cyclonedx"
    assert shown.spdx_href == f"/api/v1/sboms/{SBOM_ID}/document?format=spdx"
    assert (shown.components, shown.findings, shown.open_findings, shown.limited) == (7, (), 0, False)
    # Its triage as VEX: CycloneDX VEX always; OpenVEX only with an open finding (else the API's 409).
    assert shown.cyclonedx_vex_href == f"/api/v1/sboms/{SBOM_ID}/vex?format=cyclonedx"
    assert shown.openvex_href is None
    vulnerable = packages.version_sbom(
        SbomList(items=[sbom.model_copy(update={"findings": {"high": 1}})], total=1, next_offset=None), None
    )
    assert vulnerable is not None
    assert vulnerable.openvex_href == f"/api/v1/sboms/{SBOM_ID}/vex?format=openvex"


def test_the_version_findings_show_open_ones_first_worst_first_with_their_triage() -> None:
    """Open findings (untriaged, under investigation, affected) come before triaged-away ones, each
    part worst first (unrated last); a row carries its severity, fixed versions and triage in words;
    more findings than read is said."""
    sbom = SbomInfo(
        id=SBOM_ID,
        source="artifact",
        subject_ecosystem="pypi",
        subject_name="acme",
        subject_version="1.0",
        document_name=None,
        input_format="artifact",
        components=4,
        created=T0,
        scanned_at=T0,
    )
    findings = FindingList(
        items=[
            _finding(1, SeverityRating.LOW, None),
            _finding(2, SeverityRating.CRITICAL, TriageStatus.NOT_AFFECTED),
            _finding(3, None, TriageStatus.AFFECTED),
            _finding(4, SeverityRating.CRITICAL, TriageStatus.UNDER_INVESTIGATION),
        ],
        total=5,
        next_offset=4,
    )
    shown = packages.version_sbom(SbomList(items=[sbom], total=1, next_offset=None), findings)
    assert shown is not None
    assert [r.advisory_id for r in shown.findings] == ["GHSA-4", "GHSA-1", "GHSA-3", "GHSA-2"]
    assert [r.open for r in shown.findings] == [True, True, True, False]
    assert [r.status for r in shown.findings] == [
        "under_investigation",
        "untriaged",
        "affected",
        "not_affected",
    ]
    assert [r.triage for r in shown.findings] == [
        "under investigation",
        "untriaged",
        "affected",
        "not affected",
    ]
    assert [r.severity_words for r in shown.findings] == ["Critical", "Low", "Unrated", "Critical"]
    first = shown.findings[0]
    assert (first.component, first.fixed, first.aliases, first.score) == (
        "dep-4 1.0",
        "no fix known",
        "CVE-2026-4",
        9.8,
    )
    assert shown.findings[1].fixed == "2.0"
    assert (shown.open_findings, shown.limited) == (3, True)


def test_a_delete_refused_by_policy_is_offered_again_forced_and_only_then() -> None:
    """The delete policy's refusals (ours and npm's unpublish rules) come back as the same delete with
    force; any other problem, or a refusal of a delete already forced, offers nothing."""
    form = packages.VersionForm(ecosystem=Ecosystem.PYPI, name="acme-lib", version="1.0")
    ref = {"ecosystem": "pypi", "name": "acme-lib", "version": "1.0"}
    for code in ("delete_refused", "unpublish_refused"):
        refused = Unavailable("error", "refused", code)
        assert packages.override_offer(refused, form) == {**ref, "force": True}
    assert packages.override_offer(Unavailable("error", "gone", "not_found"), form) is None
    assert packages.override_offer(Unavailable("role", "no"), form) is None
    assert packages.override_offer(None, form) is None
    forced = packages.VersionForm.model_validate({**ref, "force": "true", "reason": "leaked key"})
    assert packages.override_offer(Unavailable("error", "refused", "delete_refused"), forced) is None
    assert forced.delete_fields() == {**ref, "force": True, "reason": "leaked key"}
    assert form.delete_fields() == ref
    whole = packages.PackageForm.model_validate({"ecosystem": "npm", "name": "@acme/ui", "force": True})
    assert whole.delete_fields() == {"ecosystem": "npm", "name": "@acme/ui", "force": True}
    assert packages.override_offer(
        Unavailable("error", "x", "delete_refused"),
        packages.PackageForm(ecosystem=Ecosystem.NPM, name="@acme/ui"),
    ) == {"ecosystem": "npm", "name": "@acme/ui", "force": True}


def test_an_api_refusal_keeps_its_code_for_the_page() -> None:
    """The refusal's code (its details' type) reaches the page; refusals without one have none."""
    body = ErrorBody(
        code=ErrorCode.CONFLICT,
        message="delete_refused: 1 other package depends on it",
        details=[{"loc": "registry", "type": "delete_refused", "message": "..."}],
    )
    assert unavailable(body) == Unavailable("error", body.message, "delete_refused")
    assert unavailable(ErrorBody(code=ErrorCode.CONFLICT, message="x")).code is None
