"""The Supply chain page's pure parts: forms to API bodies, the policy in words, blocked versions and
overrides as rows, open findings grouped by severity with the API's counts, the uploaded SBOMs with
their downloads and VEX exports, the advisory imports in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.dashboard import supply_chain as view
from services.dashboard.answers import Unavailable
from services.dashboard.pages import PAGES, SUPPLY_CHAIN, chrome
from shared.messages.artifacts import Ecosystem
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.identity import SessionInfo
from shared.messages.permissions import Permission, permissions_of_roles
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryStatus,
    FindingInfo,
    FindingList,
    FindingSummary,
    SbomInfo,
    SbomList,
    Severity,
    SeverityRating,
    TriageInfo,
    TriageProduct,
    TriageRequest,
    TriageStatus,
    TriageWithdrawal,
    TriageWithdrawRequest,
)
from shared.messages.supply_chain_policy import (
    BlockedList,
    BlockedVersion,
    BlockingFinding,
    DownloadPolicy,
    DownloadPolicySet,
    OverrideCreate,
    OverrideInfo,
    OverrideList,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
USER = "0b7c6a52-5d0e-4c55-9a43-7d8f5a1e2b3c"
KEY = "3f1d2c4b-9e8a-4b7c-8d6e-5f4a3b2c1d0e"


def finding(
    n: int,
    rating: SeverityRating | None,
    triage: TriageStatus | None = None,
    *,
    package: str = "acme",
    retired: bool = False,
    stored: bool = True,
) -> FindingInfo:
    return FindingInfo(
        id=f"00000000-0000-4000-8000-{n:012d}" if stored else None,
        sbom_id=None,
        advisory_id=f"GHSA-{n}",
        aliases=[f"CVE-2026-{n}", f"GHSA-{n}"],
        summary=f"summary {n}",
        ecosystem="PyPI",
        package=package,
        version="1.0",
        purl=f"pkg:pypi/{package}@1.0",
        severity=Severity(rating=rating, score=7.5 if rating is SeverityRating.HIGH else None),
        fixed_versions=["2.0"] if n % 2 else [],
        path=[],
        triage=triage,
        retired_at=T0 if retired else None,
    )


def test_policy_form_makes_the_put_body_the_api_takes() -> None:
    """The policy form's strings become PUT /api/v1/supply-chain/policy's body (an empty day count 0),
    which the API's own model accepts; odd text is passed on for that model to refuse."""
    body = view.PolicyForm(block_severity="high", quarantine_days=" 7 ").body()
    assert body == {"block_severity": "high", "quarantine_days": "7", "block_unrated": False}
    assert DownloadPolicySet.model_validate(body) == DownloadPolicySet(
        block_severity=SeverityRating.HIGH, quarantine_days=7, block_unrated=False
    )
    assert view.PolicyForm(block_severity="none", quarantine_days="").body()["quarantine_days"] == "0"
    assert view.PolicyForm(quarantine_days="soon").body()["quarantine_days"] == "soon"


def test_policy_form_always_says_whether_unrated_findings_block() -> None:
    """The block_unrated checkbox ticked (json-enc sends its value `true`, or `on`) is true; unticked
    (json-enc leaves it out) is an explicit false, never absent, which the API would read as "keep
    the current setting"; odd text is passed on, and the API's model refuses it."""
    ticked = view.PolicyForm(block_severity="high", quarantine_days="0", block_unrated="true").body()
    assert ticked["block_unrated"] is True
    assert DownloadPolicySet.model_validate(ticked).block_unrated is True
    assert view.PolicyForm(block_unrated="on").body()["block_unrated"] is True
    unticked = view.PolicyForm(block_severity="high", quarantine_days="0").body()
    assert unticked["block_unrated"] is False
    assert DownloadPolicySet.model_validate(unticked).block_unrated is False
    odd = view.PolicyForm(block_unrated="maybe").body()
    assert odd["block_unrated"] == "maybe"
    with pytest.raises(ValidationError):
        DownloadPolicySet.model_validate(odd)


def test_a_refused_write_names_the_fields_the_api_refused() -> None:
    """A 422 for a request that does not match the schema says which field (as the form labels it)
    and why; an agent's refusal whose detail repeats its message is not said twice (its code kept); a
    role's 403 stays a role refusal."""
    schema = view.refused(
        ErrorBody(
            code=ErrorCode.VALIDATION_FAILED,
            message="the request does not match its schema",
            details=[{"loc": "block_unrated", "message": "Input should be a valid boolean", "type": "bool"}],
        )
    )
    assert schema == Unavailable(
        "error",
        "the request does not match its schema; Findings without a severity rating block too: "
        "Input should be a valid boolean",
    )
    said = "affected needs an action statement"
    agent = view.refused(
        ErrorBody(
            code=ErrorCode.VALIDATION_FAILED,
            message=said,
            details=[{"loc": "document", "type": "invalid_triage", "message": said}],
        )
    )
    assert agent == Unavailable("error", said, "invalid_triage")
    role = view.refused(ErrorBody(code=ErrorCode.FORBIDDEN, message="needs supply_chain:policy"))
    assert role.reason == "role"


def test_override_form_makes_the_override_body() -> None:
    """A blocked row's override form (its ecosystem, name and version plus a typed reason) is a body
    POST /api/v1/supply-chain/policy/overrides accepts."""
    row = view.BlockedRow("pypi", "acme-app", "1.0", ())
    body = view.OverrideForm(**row.ref, reason="  not reachable ").body()
    assert body == {"ecosystem": "pypi", "name": "acme-app", "version": "1.0", "reason": "not reachable"}
    assert OverrideCreate.model_validate(body).ecosystem is Ecosystem.PYPI


def test_triage_form_puts_the_statement_where_the_status_wants_it() -> None:
    """not_affected carries the justification and the statement as impact statement, affected the
    statement as action statement, other statuses it as a note and never a justification; each is a
    TriageRequest the API accepts."""
    fid = "00000000-0000-4000-8000-000000000001"
    not_affected = view.TriageForm(
        finding_id=fid, status="not_affected", justification="component_not_present", statement="unused"
    ).body()
    assert not_affected == {
        "finding_id": fid,
        "status": "not_affected",
        "justification": "component_not_present",
        "impact_statement": "unused",
    }
    affected = view.TriageForm(
        finding_id=fid, status="affected", justification="component_not_present", statement="upgrade"
    ).body()
    assert affected == {"finding_id": fid, "status": "affected", "action_statement": "upgrade"}
    fixed = view.TriageForm(finding_id=fid, status="fixed", statement=" done ").body()
    assert fixed == {"finding_id": fid, "status": "fixed", "note": "done"}
    bare = view.TriageForm(finding_id=fid, status="under_investigation", statement="  ").body()
    assert bare == {"finding_id": fid, "status": "under_investigation"}
    for body in (not_affected, affected, fixed, bare):
        TriageRequest.model_validate(body)


def test_triage_form_on_one_products_page_sends_the_product_only_when_chosen() -> None:
    """Scope `product` adds that SBOM as the product; `team`, or no scope (the team's page, which has
    no choice), sends none, so the decision is team-wide; each is a TriageRequest the API accepts. A
    scope that is neither is refused by the form, never taken for the wider team-wide write."""
    fid = "00000000-0000-4000-8000-000000000001"
    sbom = "11111111-1111-4111-8111-111111111111"
    product = view.TriageForm(
        finding_id=fid, status="fixed", scope="product", sbom_id=f" {sbom} ", statement="pinned 2.0"
    ).body()
    assert product == {
        "finding_id": fid,
        "status": "fixed",
        "note": "pinned 2.0",
        "product": {"sbom_id": sbom},
    }
    assert TriageRequest.model_validate(product).product is not None
    for scope in ("team", ""):
        body = view.TriageForm(finding_id=fid, status="fixed", scope=scope, sbom_id=sbom).body()
        assert body == {"finding_id": fid, "status": "fixed"}
        assert TriageRequest.model_validate(body).product is None
    assert "product" not in view.TriageForm(finding_id=fid, status="fixed").body()
    with pytest.raises(ValidationError):
        view.TriageForm(finding_id=fid, status="fixed", scope="everyone", sbom_id=sbom)
    # The product chosen without its SBOM is passed on for the API's model to refuse by name.
    with pytest.raises(ValidationError, match=r"product\.sbom_id"):
        TriageRequest.model_validate(view.TriageForm(finding_id=fid, status="fixed", scope="product").body())


def test_withdraw_form_names_the_pages_sbom_as_the_product() -> None:
    """ "Use the team-wide decision" sends the finding and the page's SBOM as the product, a body
    POST /api/v1/vulnerabilities/{finding_id}/triage/withdraw accepts."""
    fid = "00000000-0000-4000-8000-000000000001"
    sbom = "11111111-1111-4111-8111-111111111111"
    body = view.WithdrawForm(finding_id=fid, sbom_id=sbom).body()
    assert body == {"finding_id": fid, "product": {"sbom_id": sbom}}
    assert TriageWithdrawRequest.model_validate(body).product.sbom_id == sbom


def _info(status: TriageStatus, product: TriageProduct | None = None) -> TriageInfo:
    return TriageInfo(
        advisory_id="GHSA-1",
        purl="pkg:pypi/acme@1.0",
        product=product,
        status=status,
        updated_by=USER,
        updated_at=T0,
    )


def test_a_triage_and_a_withdrawal_say_whose_decision_applies() -> None:
    """A saved triage says whether it is this product's only (the team-wide one unchanged) or
    team-wide; a withdrawal names the product's decision withdrawn and the team-wide one now applying."""
    product = TriageProduct(sbom_id="11111111-1111-4111-8111-111111111111")
    assert view.triage_saved(_info(TriageStatus.NOT_AFFECTED, product)) == (
        "GHSA-1 in pkg:pypi/acme@1.0: not affected for this product only (the team-wide decision is "
        "unchanged)."
    )
    assert (
        view.triage_saved(_info(TriageStatus.AFFECTED)) == "GHSA-1 in pkg:pypi/acme@1.0: affected, team-wide."
    )
    done = TriageWithdrawal(
        withdrawn=_info(TriageStatus.NOT_AFFECTED, product), applies=_info(TriageStatus.UNDER_INVESTIGATION)
    )
    assert view.withdrawal_done(done) == (
        "GHSA-1 in pkg:pypi/acme@1.0: this product's own decision (not affected) withdrawn; the team-wide "
        "decision applies: under investigation."
    )


def test_each_findings_row_says_whose_decision_its_triage_is() -> None:
    """A row whose product's own decision applies says so: "this product only" on that product's page,
    "its product's own" on the team's (where it is one product of many); a team-wide one says
    "team-wide" on both."""
    own = finding(1, SeverityRating.HIGH, TriageStatus.AFFECTED).model_copy(
        update={"triage_scope": "product"}
    )
    team = finding(2, SeverityRating.HIGH, TriageStatus.AFFECTED).model_copy(update={"triage_scope": "team"})
    found = FindingList(items=[own, team], total=2, next_offset=None)
    narrowed = {r.advisory_id: r for r in view.finding_groups(found, narrowed=True)[0].rows}
    assert (narrowed["GHSA-1"].scope, narrowed["GHSA-1"].scope_words) == ("product", "this product only")
    assert (narrowed["GHSA-2"].scope, narrowed["GHSA-2"].scope_words) == ("team", "team-wide")
    assert (narrowed["GHSA-1"].own, narrowed["GHSA-2"].own) == (True, False)
    wide = {r.advisory_id: r for r in view.finding_groups(found, sbom_links=True)[0].rows}
    assert (wide["GHSA-1"].scope, wide["GHSA-1"].scope_words) == ("product", "its product's own")
    assert wide["GHSA-2"].scope_words == "team-wide"


def test_findings_closed_by_their_products_own_decision_are_listed_apart() -> None:
    """The findings a product's own not_affected or fixed closed (which the open list leaves out) are
    listed for their withdrawal; open ones, team-wide closures and retired findings are not."""

    def scoped(item: FindingInfo, scope: str) -> FindingInfo:
        return item.model_copy(update={"triage_scope": scope})

    found = FindingList(
        items=[
            scoped(finding(1, SeverityRating.HIGH, TriageStatus.NOT_AFFECTED), "product"),
            scoped(finding(2, SeverityRating.LOW, TriageStatus.FIXED), "product"),
            scoped(finding(3, SeverityRating.HIGH, TriageStatus.AFFECTED), "product"),
            scoped(finding(4, SeverityRating.HIGH, TriageStatus.NOT_AFFECTED), "team"),
            scoped(finding(5, SeverityRating.HIGH, TriageStatus.FIXED, retired=True), "product"),
        ],
        total=5,
        next_offset=None,
    )
    closed = view.closed_by_product(found)
    assert [(r.advisory_id, r.triage, r.scope_words) for r in closed] == [
        ("GHSA-1", "not affected", "this product only"),
        ("GHSA-2", "fixed", "this product only"),
    ]
    assert [r.advisory_id for g in view.finding_groups(found, narrowed=True) for r in g.rows] == ["GHSA-3"]


def test_policy_in_words_names_the_severity_and_the_quarantine() -> None:
    """The policy panel says what is blocked and for how long new versions wait, and who changed it
    by login (a key by its name)."""
    none = view.policy_view(DownloadPolicy(block_severity=SeverityRating.NONE, quarantine_days=0), {}, {})
    assert none.blocks.startswith("Nothing is blocked")
    assert none.quarantine.startswith("Off")
    assert none.updated_by is None
    high = view.policy_view(
        DownloadPolicy(block_severity=SeverityRating.HIGH, quarantine_days=1, updated_by=USER, updated_at=T0),
        {USER: "alice"},
        {},
    )
    assert "rated high or worse" in high.blocks
    assert "younger than 1 day " in high.quarantine
    assert high.updated_by == "alice"
    critical = view.policy_view(
        DownloadPolicy(block_severity=SeverityRating.CRITICAL, quarantine_days=3, updated_by=f"apikey:{KEY}"),
        {},
        {KEY: "ci"},
    )
    assert "open critical finding" in critical.blocks
    assert "3 days" in critical.quarantine
    assert critical.updated_by == "key ci"
    assert view.who("apikey:gone", {}, {}) == "apikey:gone"
    assert view.who(USER, {}, {}) == USER


def test_whether_unrated_findings_block_is_said_in_words() -> None:
    """The policy panel says whether findings without a rating block (read-only for those who may not
    change it): they do only with block_unrated and a severity that blocks; the saved line says so."""
    on = DownloadPolicy(block_severity=SeverityRating.HIGH, quarantine_days=0, block_unrated=True)
    shown = view.policy_view(on, {}, {})
    assert shown.block_unrated is True
    assert shown.unrated.startswith("Block too")
    assert view.policy_view(on.model_copy(update={"block_unrated": False}), {}, {}).unrated.startswith(
        "Do not block"
    )
    idle = view.policy_view(on.model_copy(update={"block_severity": SeverityRating.NONE}), {}, {})
    assert "blocks nothing" in idle.unrated
    assert view.policy_saved(on) == (
        "Policy saved: blocking from high and findings without a rating, quarantine 0 days."
    )
    off = DownloadPolicy(block_severity=SeverityRating.CRITICAL, quarantine_days=1)
    assert view.policy_saved(off) == "Policy saved: blocking from critical, quarantine 1 day."


def test_blocked_versions_come_worst_first_with_their_findings() -> None:
    """Blocked versions are ordered by their worst finding, each version's findings worst first, with
    the triage status in words; an override row names who made it."""
    found = BlockedList(
        items=[
            BlockedVersion(
                ecosystem=Ecosystem.PYPI,
                name="mild",
                version="1.0",
                findings=[
                    BlockingFinding(
                        finding_id="f1",
                        advisory_id="A-1",
                        severity=SeverityRating.MEDIUM,
                        package="dep@1.0",
                        triage_status="under_investigation",
                    )
                ],
            ),
            BlockedVersion(
                ecosystem=Ecosystem.NPM,
                name="bad",
                version="2.0.0",
                findings=[
                    BlockingFinding(
                        finding_id="f2",
                        advisory_id="A-2",
                        severity=SeverityRating.LOW,
                        package="x@1",
                        triage_status="affected",
                    ),
                    BlockingFinding(
                        finding_id="f3",
                        advisory_id="A-3",
                        severity=SeverityRating.CRITICAL,
                        package="y@1",
                        triage_status="under_investigation",
                    ),
                ],
            ),
        ]
    )
    rows = view.blocked_rows(found)
    assert [r.key for r in rows] == ["npm:bad@2.0.0", "pypi:mild@1.0"]
    assert [f.advisory_id for f in rows[0].findings] == ["A-3", "A-2"]
    assert rows[1].findings[0].triage == "under investigation"
    assert rows[0].ref == {"ecosystem": "npm", "name": "bad", "version": "2.0.0"}
    overrides = view.override_rows(
        OverrideList(
            items=[
                OverrideInfo(
                    id="o1",
                    ecosystem=Ecosystem.PYPI,
                    name="mild",
                    version="1.0",
                    reason="not reachable",
                    created_by=USER,
                    created_at=T0,
                )
            ]
        ),
        {USER: "alice"},
        {},
    )
    assert [(o.name, o.created_by, o.reason) for o in overrides] == [("mild", "alice", "not reachable")]


def test_open_findings_are_grouped_by_severity_worst_first() -> None:
    """Only open findings (untriaged, under investigation, affected; not retired, stored) are shown,
    grouped critical → high → … → unrated, each group by package; aliases leave out the id itself."""
    found = FindingList(
        items=[
            finding(1, SeverityRating.LOW),
            finding(2, SeverityRating.HIGH, package="zeta"),
            finding(3, SeverityRating.HIGH, TriageStatus.AFFECTED, package="alpha"),
            finding(4, SeverityRating.CRITICAL, TriageStatus.NOT_AFFECTED),
            finding(5, SeverityRating.CRITICAL, TriageStatus.FIXED),
            finding(6, SeverityRating.CRITICAL, retired=True),
            finding(7, None, TriageStatus.UNDER_INVESTIGATION),
            finding(8, SeverityRating.MEDIUM, stored=False),
        ],
        total=8,
        next_offset=None,
    )
    groups = view.finding_groups(found)
    assert [(g.rating, [r.advisory_id for r in g.rows]) for g in groups] == [
        ("high", ["GHSA-3", "GHSA-2"]),
        ("low", ["GHSA-1"]),
        ("unrated", ["GHSA-7"]),
    ]
    high = groups[0].rows
    assert (high[0].triage, high[0].status, high[0].aliases) == ("affected", "affected", "CVE-2026-3")
    assert (high[1].triage, high[1].status, high[1].score) == ("untriaged", "", 7.5)
    assert high[0].fixed == "2.0"
    assert groups[1].rows[0].fixed == "2.0"
    assert groups[2].rows[0].fixed == "2.0"
    assert view.open_count(groups) == 4
    assert view.finding_groups(FindingList(items=[], total=0, next_offset=None)) == []


def _summary(by_severity: dict[str, int], by_triage: dict[str, int], **touched: int) -> FindingSummary:
    return FindingSummary(
        open=sum(by_severity.values()),
        by_severity={r: by_severity.get(r, 0) for r in view.SEVERITY_ORDER},
        by_triage={s.value: by_triage.get(s.value, 0) for s in TriageStatus},
        packages=touched.get("packages", 0),
        versions=touched.get("versions", 0),
        sboms=touched.get("sboms", 1),
        advisories=touched.get("advisories", 0),
    )


def test_counts_of_a_team_with_more_than_500_findings_are_the_apis_not_the_rows_read() -> None:
    """With 600 open findings (300 critical, 250 high, 50 unrated) the list reads the worst 500: the
    page's groups and counts are the summary's (300, 250, and 50 unrated that no row shows), not
    the rows' (300, 200); the note says 500 of 600 are listed."""
    rows = [finding(n, SeverityRating.CRITICAL, package=f"p{n:04d}") for n in range(300)]
    rows += [finding(n, SeverityRating.HIGH, package=f"p{n:04d}") for n in range(300, 500)]
    read = FindingList(items=rows, total=600, next_offset=500)
    summary = _summary(
        {"critical": 300, "high": 250, "unrated": 50},
        {"under_investigation": 590, "affected": 10, "not_affected": 4, "fixed": 1},
        packages=600,
        versions=600,
        advisories=3,
    )
    groups = view.finding_groups(read, summary.by_severity)
    assert view.open_count(groups) == 500
    assert [(g.rating, len(g.rows), g.count, g.partial) for g in groups] == [
        ("critical", 300, 300, False),
        ("high", 200, 250, True),
    ]
    shown = view.summary_view(summary)
    assert shown.open == 600
    assert [(r.key, r.count) for r in shown.severities] == [
        ("critical", 300),
        ("high", 250),
        ("medium", 0),
        ("low", 0),
        ("none", 0),
        ("unrated", 50),
    ]
    assert [(r.title, r.count) for r in shown.triage] == [
        ("under investigation", 590),
        ("affected", 10),
        ("not affected", 4),
        ("fixed", 1),
    ]
    assert (shown.closed, shown.packages, shown.versions, shown.sboms) == (5, 600, 600, 1)
    note = view.listed_note(groups, summary, limited=True)
    assert note is not None
    assert "worst 500 of 600 open findings" in note
    # Without the counts (a panel refused), the rows are all there is, and the note says the list is cut.
    alone = view.finding_groups(read)
    assert [g.count for g in alone] == [300, 200]
    assert view.listed_note(alone, None, limited=True) == (
        "The worst 500 findings are read; triage these to see the rest."
    )
    small = _summary({"high": 1}, {"under_investigation": 1})
    one = view.finding_groups(FindingList(items=[finding(1, SeverityRating.HIGH)], total=1, next_offset=None))
    assert view.listed_note(one, small, limited=False) is None


def test_a_findings_row_links_its_sboms_findings_only_when_asked() -> None:
    """The team-wide list links each finding to its SBOM's findings (where its VEX exports are);
    the list of one SBOM does not link to itself."""
    sbom = "11111111-1111-4111-8111-111111111111"
    found = FindingList(
        items=[finding(1, SeverityRating.LOW).model_copy(update={"sbom_id": sbom})], total=1, next_offset=None
    )
    linked = view.finding_groups(found, sbom_links=True)[0].rows[0]
    assert linked.sbom_href == f"/dashboard/supply-chain?sbom={sbom}#findings"
    assert view.finding_groups(found)[0].rows[0].sbom_href is None


def _sbom(n: int, source: str, input_format: str, findings: dict[str, int], **named: str | None) -> SbomInfo:
    return SbomInfo(
        id=f"22222222-2222-4222-8222-{n:012d}",
        source=source,
        subject_ecosystem=None,
        subject_name=named.get("name") or f"app-{n}",
        subject_version=named.get("version", "1.0"),
        document_name=named.get("document", "bom.json"),
        input_format=input_format,
        components=10 * n,
        created=T0 + timedelta(hours=n),
        scanned_at=T0 + timedelta(hours=n),
        findings=findings,
    )


def test_uploaded_sboms_are_listed_newest_first_with_downloads_and_vex() -> None:
    """Uploaded SBOMs and lockfiles (two API lists) are merged newest first, each with its name and
    version, format in words, component and finding counts, worst rating, the SBOM downloads
    (CycloneDX, SPDX), the VEX exports, and a link to its findings; an SBOM with no finding to state
    offers no OpenVEX link (the API answers 409 no_open_findings), the CycloneDX VEX still."""
    uploads = SbomList(
        items=[
            _sbom(3, "upload", "spdx", {}, name="vendor-tool", version=None),
            _sbom(1, "upload", "cyclonedx", {"high": 2, "unrated": 1}),
        ],
        total=2,
        next_offset=None,
    )
    lockfiles = SbomList(
        items=[_sbom(2, "lockfile", "requirements.txt", {"low": 1}, document="requirements.txt")],
        total=1,
        next_offset=None,
    )
    table = view.uploaded_sboms(uploads, lockfiles)
    assert [r.title for r in table.rows] == ["vendor-tool", "app-2 1.0", "app-1 1.0"]
    assert [r.format for r in table.rows] == ["SPDX", "requirements.txt (lockfile)", "CycloneDX"]
    assert [(r.findings, r.worst) for r in table.rows] == [(0, None), (1, "low"), (3, "high")]
    assert (table.total, table.limited) == (3, False)
    empty, _, vulnerable = table.rows
    sid = vulnerable.id
    assert vulnerable.cyclonedx_href == f"/api/v1/sboms/{sid}/document?format=cyclonedx"
    assert vulnerable.spdx_href == f"/api/v1/sboms/{sid}/document?format=spdx"
    assert vulnerable.openvex_href == f"/api/v1/sboms/{sid}/vex?format=openvex"
    assert vulnerable.vex_cyclonedx_href == f"/api/v1/sboms/{sid}/vex?format=cyclonedx"
    assert vulnerable.findings_href == f"/dashboard/supply-chain?sbom={sid}#findings"
    assert (vulnerable.components, vulnerable.document_name) == (10, "bom.json")
    assert empty.openvex_href is None
    assert empty.vex_cyclonedx_href.endswith("/vex?format=cyclonedx")
    many = SbomList(
        items=[_sbom(n, "upload", "cyclonedx", {}) for n in range(1, view.SBOMS_SHOWN + 1)],
        total=80,
        next_offset=view.SBOMS_SHOWN,
    )
    cut = view.uploaded_sboms(many, lockfiles)
    assert (len(cut.rows), cut.total, cut.limited) == (view.SBOMS_SHOWN, 81, True)
    assert cut.rows[0].title == f"app-{view.SBOMS_SHOWN} 1.0"


def test_the_findings_scope_comes_from_the_query_or_the_page_htmx_replaces() -> None:
    """`?sbom=` narrows the page (blank is the whole team; anything but an id is refused), and a
    write's answer keeps the scope of the page it replaces (HX-Current-URL), ignoring a value that is
    not an SBOM id."""
    sid = "33333333-3333-4333-8333-333333333333"
    assert view.PageQuery.model_validate({"sbom": sid}).sbom == sid
    assert view.PageQuery.model_validate({"sbom": " "}).sbom is None
    assert view.PageQuery.model_validate({}).sbom is None
    with pytest.raises(ValidationError):
        view.PageQuery.model_validate({"sbom": "../etc"})
    assert view.scope_of(f"http://127.0.0.1:8080/dashboard/supply-chain?sbom={sid}#findings") == sid
    assert view.scope_of("http://127.0.0.1:8080/dashboard/supply-chain") is None
    assert view.scope_of("http://127.0.0.1:8080/dashboard/supply-chain?sbom=x%27") is None
    assert view.scope_of(None) is None


def test_the_page_is_in_the_navigation_of_every_team_role() -> None:
    """Supply chain is listed between Packages and Team for every team role that reads the supply
    chain (billing does not), and its forms are offered by the write and triage permissions."""
    keys = [p.key for p in PAGES]
    assert keys.index("supply_chain") == keys.index("packages") + 1
    for role in ("owner", "admin", "member", "viewer", "billing"):
        granted = permissions_of_roles((role,))
        session = SessionInfo.model_validate(
            {
                "user": {"id": USER, "login": "u", "name": None, "avatar_url": None},
                "team_id": KEY,
                "role": role,
                "teams": [{"team_id": KEY, "slug": "t", "name": "T", "role": role, "account": "a"}],
                "permissions": sorted(granted),
                "csrf_token": "x",
            }
        )
        frame = chrome(session, SUPPLY_CHAIN)
        shown = [n.title for n in frame.nav]
        assert ("Supply chain" in shown) == (Permission.SUPPLY_CHAIN_READ in granted), role
        assert frame.may(Permission.SUPPLY_CHAIN_WRITE) == (role in ("owner", "admin", "member")), role
        assert frame.may(Permission.SUPPLY_CHAIN_POLICY) == (role in ("owner", "admin")), role
    assert Permission.SUPPLY_CHAIN_READ not in permissions_of_roles(("billing",))


def _import(n: int, status: str, *, errors: int = 0, failure: str | None = None) -> AdvisoryImportInfo:
    return AdvisoryImportInfo(
        id=f"00000000-0000-4000-8000-{n:012d}",
        source=f"source-{n}",
        status=status,  # type: ignore[arg-type]
        started_at=T0 + timedelta(hours=n),
        finished_at=None if status == "running" else T0 + timedelta(hours=n, minutes=1),
        files=10 * n,
        new=n,
        modified=1,
        withdrawn=0,
        unchanged=2,
        error_count=errors,
        findings_changed=3,
        sboms_rescanned=4,
        failure=failure,
    )


def test_advisory_imports_say_what_each_changed_and_how_it_ended() -> None:
    """Each import keeps the API's order (newest first) with its records in words; one with unreadable
    files says how many were skipped, a failed one says why, and the last finished import is the
    newest that finished (not a running or failed one)."""
    status = AdvisoryStatus(
        advisories=120,
        withdrawn=3,
        latest_modified=T0,
        imports=[
            _import(4, "running"),
            _import(3, "failed", failure="not a zip or tar archive of OSV records"),
            _import(2, "finished", errors=1),
            _import(1, "finished"),
        ],
    )
    shown = view.advisory_view(status)
    assert (shown.advisories, shown.withdrawn, shown.latest_modified) == (120, 3, T0)
    assert [r.source for r in shown.imports] == ["source-4", "source-3", "source-2", "source-1"]
    assert [r.status for r in shown.imports] == ["running", "failed", "finished", "finished"]
    assert shown.imports[3].counts == "1 new, 1 modified, 0 withdrawn, 2 unchanged"
    assert shown.imports[3].files == 10
    assert (shown.imports[3].errors, shown.imports[3].ok) == (None, True)
    assert (shown.imports[2].errors, shown.imports[2].ok) == ("1 unreadable file skipped", False)
    assert shown.imports[1].errors == "failed: not a zip or tar archive of OSV records"
    assert shown.imports[0].finished_at is None
    assert shown.last_finished == T0 + timedelta(hours=2, minutes=1)
    empty = view.advisory_view(AdvisoryStatus(advisories=0, withdrawn=0, latest_modified=None, imports=[]))
    assert (empty.imports, empty.last_finished) == ((), None)


def test_an_sbom_the_agent_made_says_so_rather_than_lockfile() -> None:
    """SBOMs made from a published version or for an upstream one name their origin in words; only
    an uploaded lockfile's kind is called a lockfile."""
    rows = [
        view.sbom_row(_sbom(1, "artifact", "artifact", {})),
        view.sbom_row(_sbom(2, "upstream", "upstream", {})),
        view.sbom_row(_sbom(3, "lockfile", "Cargo.lock", {})),
    ]
    assert [r.format for r in rows] == [
        "made from the published version",
        "made for the upstream version",
        "Cargo.lock (lockfile)",
    ]
