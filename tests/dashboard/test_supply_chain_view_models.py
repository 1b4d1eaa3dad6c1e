"""The Supply chain page's pure parts: forms to API bodies, the policy in words, blocked versions and
overrides as rows, open findings grouped by severity, the advisory imports in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.dashboard import supply_chain as view
from services.dashboard.pages import PAGES, SUPPLY_CHAIN, chrome
from shared.messages.artifacts import Ecosystem
from shared.messages.identity import SessionInfo
from shared.messages.permissions import Permission, permissions_of_roles
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryStatus,
    FindingInfo,
    FindingList,
    Severity,
    SeverityRating,
    TriageRequest,
    TriageStatus,
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
    assert body == {"block_severity": "high", "quarantine_days": "7"}
    assert DownloadPolicySet.model_validate(body) == DownloadPolicySet(
        block_severity=SeverityRating.HIGH, quarantine_days=7
    )
    assert view.PolicyForm(block_severity="none", quarantine_days="").body()["quarantine_days"] == "0"
    assert view.PolicyForm(quarantine_days="soon").body()["quarantine_days"] == "soon"


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
