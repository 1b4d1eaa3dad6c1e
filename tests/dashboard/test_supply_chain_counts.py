"""The Supply chain page's counts, uploaded SBOMs and VEX exports, against the session's mesh: a team
of this module's own uploads a CycloneDX SBOM (made elsewhere) of 600 components that four imported
advisories name (250 critical, 200 high, 100 medium, 50 unrated: more findings than the list API
answers at once) and a lockfile with no vulnerable package. The summary API counts every finding in
SQL; the page shows those counts (not the 500 rows it lists), lists the uploads with their downloads,
VEX exports and findings, and offers no OpenVEX link where the API would answer 409."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from agents.super_agent.routes import ROUTES
from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, Stage, screenshot
from tests.dashboard.test_browser import assert_accessible_on_laptop_and_phone, inline_code, signed_in
from tests.dashboard.test_packages import other_team_session
from tests.dashboard.test_supply_chain import _csrf, _swapped
from tests.fixtures.mesh import TOKEN

PATH = "/dashboard/supply-chain"
SUMMARY = "/api/v1/supply-chain/summary"
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"  # 5.3
# (rating, CVSS vector or None for an advisory without a severity, how many packages it names)
ADVISORIES = (
    ("critical", CRITICAL, 250),
    ("high", HIGH, 200),
    ("medium", MEDIUM, 100),
    ("unrated", None, 50),
)
COMPONENTS = sum(n for _, _, n in ADVISORIES)  # 600
BY_SEVERITY = {"critical": 250, "high": 200, "medium": 100, "low": 0, "none": 0, "unrated": 50}
UNTRIAGED = {"under_investigation": COMPONENTS, "affected": 0, "not_affected": 0, "fixed": 0}


@dataclass(frozen=True)
class Uploaded:
    app: str  # the uploaded SBOM's software (metadata component), version 3.1
    sbom_id: str  # its SBOM: 600 findings
    lockfile_id: str  # the lockfile's SBOM: no finding
    prefix: str  # every vulnerable package's name starts with it
    advisories: dict[str, str]  # rating -> advisory id


def _archive(records: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for record in records:
            data = json.dumps(record).encode()
            member = tarfile.TarInfo(f"osv/{record['id']}.json")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
async def uploaded(stage: Stage) -> Uploaded:
    """Four advisories (imported as the operator) naming 600 packages of this module's own, and the
    stage team's uploads: a CycloneDX SBOM of those 600 at 1.0, and a requirements.txt naming none."""
    suffix = uuid.uuid4().hex[:6]
    prefix = f"dash-many-{suffix}"
    names = [f"{prefix}-{i:04d}" for i in range(COMPONENTS)]
    records, advisories, start = [], {}, 0
    for rating, vector, count in ADVISORIES:
        advisory = f"MNO-DASH-MANY-{rating.upper()}-{suffix}"
        advisories[rating] = advisory
        record: dict[str, Any] = {
            "schema_version": "1.6.0",
            "id": advisory,
            "modified": "2030-01-01T00:00:00Z",
            "summary": f"{count} packages trust their input ({rating})",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
                }
                for name in names[start : start + count]
            ],
        }
        if vector is not None:
            record["severity"] = [{"type": "CVSS_V3", "score": vector}]
        records.append(record)
        start += count
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stage.edge}/api/v1/operator/advisories/import",
            data=_archive(records),
            params={"source": "dashboard-counts-test"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    app = f"vendor-app-{suffix}"
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "application", "name": app, "version": "3.1", "bom-ref": "app"}},
        "components": [
            {
                "type": "library",
                "bom-ref": name,
                "name": name,
                "version": "1.0",
                "purl": f"pkg:pypi/{name}@1.0",
            }
            for name in names
        ],
    }
    status, scanned = await stage.api(
        "POST", "/api/v1/sboms", data=json.dumps(bom).encode(), params={"filename": f"{app}.cdx.json"}
    )
    assert status == 201, scanned
    assert len(scanned["findings"]) == 500  # the scan's answer lists at most 500 too
    status, locked = await stage.api(
        "POST",
        "/api/v1/sboms",
        data=f"safe-{suffix}==1.0\n".encode(),
        params={"filename": "requirements.txt"},
    )
    assert status == 201, locked
    assert locked["findings"] == []
    return Uploaded(app, scanned["sbom"]["id"], locked["sbom"]["id"], prefix, advisories)


async def _summary(stage: Stage, **params: str) -> dict[str, Any]:
    status, body = await stage.api("GET", SUMMARY, params=params)
    assert status == 200, body
    return dict(body)


async def _triage(stage: Stage, finding_id: str, **decision: str) -> None:
    status, body = await stage.api("POST", f"/api/v1/vulnerabilities/{finding_id}/triage", json=decision)
    assert status == 200, body


async def test_the_summary_api_counts_every_finding_of_a_team_with_more_than_500(
    stage: Stage, uploaded: Uploaded
) -> None:
    """The findings list answers 500 of the team's 600; the summary counts all 600 by severity (250
    critical, 200 high, 100 medium, 50 unrated), by triage, and the 600 packages and versions, one
    SBOM and four advisories they touch; narrowed to the lockfile's SBOM it counts nothing; triage
    moves findings between its counts (two not affected, one affected). The OpenAPI document gives
    the route supply_chain:read and the supply_chain plan feature, which the route declares."""
    status, listed = await stage.api("GET", "/api/v1/vulnerabilities", params={"limit": "500"})
    assert status == 200, listed
    assert (len(listed["items"]), listed["total"], listed["next_offset"]) == (500, COMPONENTS, 500)
    summary = await _summary(stage)
    assert summary == {
        "open": COMPONENTS,
        "by_severity": BY_SEVERITY,
        "by_triage": UNTRIAGED,
        "packages": COMPONENTS,
        "versions": COMPONENTS,
        "sboms": 1,
        "advisories": 4,
    }
    assert await _summary(stage, sbom_id=uploaded.sbom_id) == summary
    nothing = await _summary(stage, sbom_id=uploaded.lockfile_id)
    assert (nothing["open"], nothing["sboms"], sum(nothing["by_triage"].values())) == (0, 0, 0)

    critical = [f for f in listed["items"] if f["advisory_id"] == uploaded.advisories["critical"]][:3]
    await _triage(stage, critical[0]["id"], status="not_affected", justification="component_not_present")
    await _triage(stage, critical[1]["id"], status="not_affected", justification="component_not_present")
    await _triage(stage, critical[2]["id"], status="affected", action_statement="upgrade to 2.0")
    try:
        triaged = await _summary(stage)
        assert triaged["open"] == COMPONENTS - 2
        assert triaged["by_severity"]["critical"] == 248
        assert triaged["by_triage"] == {
            "under_investigation": COMPONENTS - 3,
            "affected": 1,
            "not_affected": 2,
            "fixed": 0,
        }
        assert (triaged["packages"], triaged["versions"]) == (COMPONENTS - 2, COMPONENTS - 2)
    finally:
        for finding in critical:
            await _triage(stage, finding["id"], status="under_investigation")
    assert (await _summary(stage))["open"] == COMPONENTS

    route = next(r for r in ROUTES if (r.method, r.path) == ("GET", SUMMARY))
    assert (str(route.permission), route.feature) == ("supply_chain:read", "supply_chain")
    status, document = await stage.api("GET", "/api/v1/openapi.json")
    assert status == 200
    operation = document["paths"][SUMMARY]["get"]
    assert operation["x-mno-permission"] == "supply_chain:read"
    assert operation["x-mno-feature"] == "supply_chain"
    assert [p["name"] for p in operation["parameters"]] == ["sbom_id"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/FindingSummary"
    )


async def _count(page: Page, selector: str) -> str | None:
    return await page.locator(selector).get_attribute("data-count")


async def test_the_page_shows_the_apis_counts_not_the_500_rows_it_lists(
    stage: Stage, uploaded: Uploaded, chromium: Browser
) -> None:
    """With 600 open findings the page lists the worst 500 (250 critical, 200 high, 50 of the 100
    medium) but every count is the API's: 600 open, each severity's total (50 unrated that no row
    shows), 600 untriaged, 600 packages in one SBOM; the medium heading says 100 with 50 listed."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(PATH)
    opened = page.locator("#summary-open")
    assert await opened.get_attribute("data-open") == str(COMPONENTS)
    assert (await opened.get_attribute("data-packages"), await opened.get_attribute("data-sboms")) == (
        "600",
        "1",
    )
    assert "600 open findings" in await opened.inner_text()
    for rating, count in BY_SEVERITY.items():
        assert await _count(page, f'#summary-severity tr[data-rating="{rating}"]') == str(count), rating
    assert await _count(page, '#summary-triage tr[data-status="under_investigation"]') == str(COMPONENTS)
    assert await _count(page, "#findings-count") == str(COMPONENTS)
    assert "worst 500 of 600 open findings" in await page.locator("#findings-listed").inner_text()
    assert await page.locator("#findings tr[data-finding-id]").count() == 500
    assert await _count(page, "#severity-critical .sub") == "250"
    assert await _count(page, "#severity-high .sub") == "200"
    assert await page.locator("#severity-medium .sub").inner_text() == "100 (50 listed)"
    assert await page.locator("#severity-unrated").count() == 0
    await screenshot(page, "supply-chain-counts")
    await context.close()


async def _row(page: Page, sbom_id: str) -> Any:
    return page.locator(f'#uploaded-sboms tr[data-sbom-id="{sbom_id}"]')


async def test_uploaded_sboms_are_listed_with_downloads_vex_and_their_findings(
    stage: Stage, uploaded: Uploaded, chromium: Browser
) -> None:
    """The uploads (the SBOM and the lockfile) are listed with name and version,
    format, components and findings; their CycloneDX and SPDX downloads and VEX exports answer the
    documents (OpenVEX: a statement for each of the 600); the lockfile, with nothing to state, offers
    no OpenVEX link but says why (the API answers it 409 no_open_findings) and its CycloneDX VEX is
    empty. Each findings link narrows the page to that SBOM: its counts, findings and exports."""
    status, held = await stage.api("GET", f"/api/v1/sboms/{uploaded.sbom_id}")
    assert status == 200, held
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    team = {"X-MNO-Team": stage.team.id}
    await page.goto(PATH)
    assert await page.locator("#sboms-count").get_attribute("data-total") == "2"
    rows = await page.locator("#uploaded-sboms tbody tr").all()
    assert {await r.get_attribute("data-sbom-id") for r in rows} == {uploaded.lockfile_id, uploaded.sbom_id}
    sbom = await _row(page, uploaded.sbom_id)
    text = await sbom.inner_text()
    assert f"{uploaded.app} 3.1" in text
    assert "CycloneDX" in text
    assert f"{held['components']:,}" in text
    assert await sbom.get_attribute("data-findings") == str(COMPONENTS)
    assert "600 findings" in await sbom.locator("a.sbom-findings").inner_text()
    documents = {
        "a.sbom-cyclonedx": '"bomFormat"',
        "a.sbom-spdx": '"spdxVersion"',
        "a.openvex": '"statements"',
        "a.vex-cyclonedx": '"vulnerabilities"',
    }
    for selector, marker in documents.items():
        href = await sbom.locator(selector).get_attribute("href")
        assert href is not None
        response = await context.request.get(href, headers=team)
        assert response.status == 200, (selector, await response.text())
        body = await response.text()
        assert marker in body, selector
        assert f"{uploaded.prefix}-0000" in body, selector
    openvex = await (
        await context.request.get(str(await sbom.locator("a.openvex").get_attribute("href")))
    ).json()
    assert len(openvex["statements"]) == COMPONENTS

    lockfile = await _row(page, uploaded.lockfile_id)
    assert "requirements.txt (lockfile)" in await lockfile.inner_text()
    assert await lockfile.get_attribute("data-findings") == "0"
    assert await lockfile.locator("a.openvex").count() == 0
    assert "needs at least one" in await lockfile.locator(".openvex-none").inner_text()
    refused = await context.request.get(
        f"/api/v1/sboms/{uploaded.lockfile_id}/vex?format=openvex", headers=team
    )
    assert refused.status == 409
    assert "no_open_findings" in await refused.text()
    empty = await context.request.get(str(await lockfile.locator("a.vex-cyclonedx").get_attribute("href")))
    assert empty.status == 200
    assert json.loads(await empty.text()).get("vulnerabilities", []) == []
    await screenshot(page, "supply-chain-sboms")

    await sbom.locator("a.sbom-findings").click()
    await page.wait_for_selector("#findings-scope")
    assert f"sbom={uploaded.sbom_id}" in page.url
    assert await page.locator("#findings-scope").get_attribute("data-sbom-id") == uploaded.sbom_id
    assert f"{uploaded.app} 3.1" in await page.locator("#findings-title").inner_text()
    assert f"in {uploaded.app} 3.1" in await page.locator("#summary-title").inner_text()
    assert await page.locator("#summary-open").get_attribute("data-open") == str(COMPONENTS)
    assert await page.locator("#findings tr[data-finding-id]").count() == 500
    assert await page.locator("#findings-exports a.scope-openvex").count() == 1
    assert await page.locator("#findings-exports a.scope-vex-cyclonedx").count() == 1

    await page.goto(PATH)
    await (await _row(page, uploaded.lockfile_id)).locator("a.sbom-findings").click()
    await page.wait_for_selector("#findings-scope")
    assert await page.locator("#findings-none").count() == 1
    assert await page.locator("#summary-open").get_attribute("data-open") == "0"
    assert await page.locator("#findings-exports a.scope-openvex").count() == 0
    assert await page.locator("#findings-exports .scope-openvex-none").count() == 1
    await page.click("#findings-all")
    await page.wait_for_selector("#findings-vex-note")
    assert await page.locator("#summary-open").get_attribute("data-open") == str(COMPONENTS)
    await context.close()


async def test_a_triage_on_a_page_narrowed_to_one_sbom_stays_narrowed(
    stage: Stage, uploaded: Uploaded, chromium: Browser
) -> None:
    """Triaging a finding not affected from one SBOM's findings (for that product only, the narrowed
    page's default) answers that SBOM's body again (its scope, its counts one fewer), as the API
    says."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(f"{PATH}?sbom={uploaded.sbom_id}")
    row = page.locator(f'#findings tr[data-advisory="{uploaded.advisories["critical"]}"]').first
    finding_id = str(await row.get_attribute("data-finding-id"))
    await row.locator("details.triage-form summary").click()
    await row.locator("select[name=status]").select_option("not_affected")
    await row.locator("select[name=justification]").select_option("component_not_present")
    try:
        await _swapped(page, row.locator("button[type=submit]").click())
        assert "not affected for this product only" in await page.locator("#supply-chain-done").inner_text()
        assert await page.locator("#findings-scope").get_attribute("data-sbom-id") == uploaded.sbom_id
        assert await page.locator("#summary-open").get_attribute("data-open") == str(COMPONENTS - 1)
        assert await _count(page, '#summary-severity tr[data-rating="critical"]') == "249"
        assert (await _summary(stage, sbom_id=uploaded.sbom_id))["by_triage"]["not_affected"] == 1
    finally:
        # The product's own decision wins over any team-wide one: withdrawn, not triaged over.
        status, body = await stage.api(
            "POST",
            f"/api/v1/vulnerabilities/{finding_id}/triage/withdraw",
            json={"product": {"sbom_id": uploaded.sbom_id}},
        )
        assert status == 200, body
    await context.close()


async def test_another_team_and_a_viewer(stage: Stage, uploaded: Uploaded, chromium: Browser) -> None:
    """Another team's page names none of the uploads, and narrowed to the team's SBOM it shows the
    API's 404 in the panels, none of its findings, and the summary API counts nothing of it; a viewer
    (supply_chain:read) sees the counts and the uploads with their downloads."""
    other_team, token = await other_team_session(stage)
    context = await stage.context(chromium, token)
    page = await context.new_page()
    await page.goto(PATH)
    html = await page.content()
    assert uploaded.app not in html
    assert await page.locator("#sboms-none").count() == 1
    assert await page.locator("#summary-open").get_attribute("data-open") == "0"
    await page.goto(f"{PATH}?sbom={uploaded.sbom_id}")
    html = await page.content()
    assert "no such SBOM" in await page.locator("#findings").inner_text()
    assert uploaded.app not in html
    assert uploaded.prefix not in html
    counted = await context.request.get(
        SUMMARY, params={"sbom_id": uploaded.sbom_id}, headers=await _csrf(context, other_team)
    )
    assert counted.status == 200
    assert (await counted.json())["open"] == 0
    await context.close()

    viewer = await stage.context(chromium, await stage.member(Role.VIEWER))
    page = await viewer.new_page()
    await page.goto(PATH)
    assert await page.locator("#summary-open").get_attribute("data-open") == str(COMPONENTS)
    assert await (await _row(page, uploaded.sbom_id)).locator("a.openvex").count() == 1
    assert await page.locator("details.triage-form").count() == 0
    await viewer.close()


async def test_the_narrowed_page_carries_the_csp_and_has_no_serious_axe_finding(
    stage: Stage, uploaded: Uploaded, chromium: Browser, axe_source: str
) -> None:
    """The page narrowed to the lockfile (counts, policy, the uploads table, its exports with OpenVEX
    not offered) has no inline script or style, axe-core finds nothing serious or critical on a laptop
    and a phone, and it does not scroll sideways on the phone."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    narrowed = f"{PATH}?sbom={uploaded.lockfile_id}"
    response = await context.request.get(narrowed, headers={"X-MNO-Team": stage.team.id})
    assert response.status == 200
    assert inline_code(await response.text()) == (0, [], 0, 0)
    await assert_accessible_on_laptop_and_phone(page, narrowed, axe_source)
    await screenshot(page, "supply-chain-sbom-phone")
    await context.close()
