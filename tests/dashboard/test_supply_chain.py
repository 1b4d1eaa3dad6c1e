"""The Supply chain page in Debian's chromium and over HTTP against the session's mesh (the
SupplyChainAgent and ArtifactManagerAgent real processes): an advisory imported by the operator, a
package published that depends on the vulnerable one, and the page shows and changes what the
supply chain API answers: the download policy (whether unrated findings block too), the version it
blocks and why, overrides, the open findings by severity and their triage, a finding's SBOM with its
VEX exports (where a triage may be that product's only, and withdrawn), the advisory imports; the
package page offers the version's SBOM (CycloneDX, SPDX) and
its findings with their triage; a viewer gets no form and 403 on every write; another team sees
none of it and cannot touch it. (The counts of a team with more findings than the list answers, and
uploaded SBOMs: test_supply_chain_counts.py.)"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, Stage, screenshot
from tests.dashboard.test_account_github import SERIOUS
from tests.dashboard.test_browser import (
    Markup,
    assert_accessible_on_laptop_and_phone,
    inline_code,
    signed_in,
    write_controls,
)
from tests.dashboard.test_packages import other_team_session, package_path
from tests.fixtures.edge import until
from tests.fixtures.mesh import TOKEN
from tests.registry.pypackages import minimal_wheel, upload_bytes

PATH = "/dashboard/supply-chain"
# CVSS 3.1 base 7.5: high.
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
# CVSS 3.1 base 2.0: low (blocks under a `low` policy only, which no other test of the module sets).
LOW = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"
WRITES = {
    f"{PATH}/policy": {"block_severity": "low", "quarantine_days": "3"},
    f"{PATH}/overrides/create": {"ecosystem": "pypi", "name": "x", "version": "1.0", "reason": "no"},
    f"{PATH}/overrides/delete": {"override_id": "00000000-0000-4000-8000-000000000000"},
    f"{PATH}/triage": {"finding_id": "00000000-0000-4000-8000-000000000000", "status": "fixed"},
    f"{PATH}/triage/withdraw": {
        "finding_id": "00000000-0000-4000-8000-000000000000",
        "sbom_id": "00000000-0000-4000-8000-000000000000",
    },
}


@dataclass(frozen=True)
class Vulnerable:
    advisory: str
    vuln: str  # the vulnerable package (a dependency)
    app: str  # the stage team's package depending on it (blocked under a high policy)
    finding_id: str  # the finding of the app's SBOM


def _wheel(name: str, version: str, requires: str) -> tuple[str, bytes]:
    """A minimal wheel whose METADATA requires `requires` (pinned, so the SBOM resolves it)."""
    filename, content = minimal_wheel(name, version)
    stem = f"{name.replace('-', '_')}-{version}"
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wheel:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == f"{stem}.dist-info/METADATA":
                data += f"Requires-Dist: {requires}\n".encode()
            wheel.writestr(item, data)
    return filename, out.getvalue()


def _archive(record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = json.dumps(record).encode()
        member = tarfile.TarInfo(f"osv/{record['id']}.json")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


async def _published_with_advisory(
    stage: Stage, names: tuple[str, str, str], summary: str, severity: list[dict[str, str]], source: str
) -> Vulnerable:
    """An advisory (`names`: its vulnerable package, the app, its id) about a package of this module's
    own, imported as the operator, and the stage team's app 1.0 requiring the package's 1.0, published:
    once its SBOM is scanned, the finding."""
    vuln, app, advisory = names
    record = {
        "schema_version": "1.6.0",
        "id": advisory,
        "modified": "2030-01-01T00:00:00Z",
        "summary": summary,
        **({"aliases": [f"CVE-2030-{advisory[-6:]}"], "severity": severity} if severity else {}),
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": vuln},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
            }
        ],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stage.edge}/api/v1/operator/advisories/import",
            data=_archive(record),
            params={"source": source},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    filename, content = _wheel(app, "1.0", f"{vuln}==1.0")
    status, text = await upload_bytes(
        stage.edge, stage.team.id, stage.team.key, app, "1.0", filename, content
    )
    assert status == 200, text

    async def found() -> str | None:
        code, body = await stage.api("GET", "/api/v1/vulnerabilities", params={"limit": "500"})
        assert code == 200, body
        return next((f["id"] for f in body["items"] if f["advisory_id"] == advisory), None)

    finding_id = await until(found, 90)
    assert finding_id, "the published package's SBOM was not scanned in 90 s"
    return Vulnerable(advisory, vuln, app, finding_id)


@pytest.fixture(scope="module")
async def vulnerable(stage: Stage) -> Vulnerable:
    """A high advisory about a package of this module's own (imported as the operator), and the stage
    team's dash-sc-app 1.0 requiring its 1.0, published: its SBOM has the finding."""
    suffix = uuid.uuid4().hex[:6]
    return await _published_with_advisory(
        stage,
        (f"dash-sc-vuln-{suffix}", f"dash-sc-app-{suffix}", f"MNO-DASH-SC-{suffix}"),
        "the vulnerable package trusts its input",
        [{"type": "CVSS_V3", "score": HIGH}],
        "dashboard-test",
    )


@pytest.fixture(scope="module")
async def unrated(stage: Stage, vulnerable: Vulnerable) -> Vulnerable:
    """An advisory without a severity about another package of this module's own, and the stage
    team's dash-sc-unrated-app 1.0 requiring its 1.0, published: blocked only with block_unrated."""
    suffix = uuid.uuid4().hex[:6]
    return await _published_with_advisory(
        stage,
        (f"dash-sc-norate-{suffix}", f"dash-sc-unrated-app-{suffix}", f"MNO-DASH-NR-{suffix}"),
        "nobody rated this one",
        [],
        "dashboard-test-unrated",
    )


@dataclass(frozen=True)
class Shared:
    """One vulnerable component version in two products of the team: its app's registry version and
    an uploaded lockfile."""

    advisory: str
    app: str
    app_sbom: str
    app_finding: str
    lockfile_sbom: str
    lockfile_finding: str


@pytest.fixture(scope="module")
async def shared(stage: Stage) -> Shared:
    """A low advisory about a package of this module's own (imported as the operator), the stage
    team's dash-sc-shared-app 1.0 requiring its 1.0 (published), and a requirements.txt pinning the
    same 1.0 (uploaded): two products with a finding of the same advisory in the same component."""
    suffix = uuid.uuid4().hex[:6]
    vuln, app, advisory = f"dash-sc-shared-{suffix}", f"dash-sc-shared-app-{suffix}", f"MNO-DASH-SH-{suffix}"
    record = {
        "schema_version": "1.6.0",
        "id": advisory,
        "modified": "2030-01-01T00:00:00Z",
        "summary": "two products share this one",
        "severity": [{"type": "CVSS_V3", "score": LOW}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": vuln},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
            }
        ],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stage.edge}/api/v1/operator/advisories/import",
            data=_archive(record),
            params={"source": "dashboard-test-shared"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    filename, content = _wheel(app, "1.0", f"{vuln}==1.0")
    status, text = await upload_bytes(
        stage.edge, stage.team.id, stage.team.key, app, "1.0", filename, content
    )
    assert status == 200, text
    status, scanned = await stage.api(
        "POST", "/api/v1/sboms", params={"filename": "requirements.txt"}, data=f"{vuln}==1.0\n".encode()
    )
    assert status == 201, scanned
    [lockfile_finding] = scanned["findings"]

    async def found() -> dict[str, Any] | None:
        code, body = await stage.api("GET", "/api/v1/vulnerabilities", params={"limit": "500"})
        assert code == 200, body
        return next(
            (
                f
                for f in body["items"]
                if f["advisory_id"] == advisory and f["sbom_id"] != scanned["sbom"]["id"]
            ),
            None,
        )

    app_finding = await until(found, 90)
    assert app_finding, "the published package's SBOM was not scanned in 90 s"
    return Shared(
        advisory,
        app,
        app_finding["sbom_id"],
        app_finding["id"],
        scanned["sbom"]["id"],
        lockfile_finding["id"],
    )


async def _policy(stage: Stage, severity: str, days: int = 0, *, block_unrated: bool | None = None) -> None:
    policy: dict[str, Any] = {"block_severity": severity, "quarantine_days": days}
    if block_unrated is not None:
        policy["block_unrated"] = block_unrated
    status, body = await stage.api("PUT", "/api/v1/supply-chain/policy", json=policy)
    assert status == 200, body


async def _overrides(stage: Stage) -> list[dict[str, Any]]:
    status, body = await stage.api("GET", "/api/v1/supply-chain/policy/overrides")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def _blocked(stage: Stage) -> list[str]:
    status, body = await stage.api("GET", "/api/v1/supply-chain/blocked")
    assert status == 200, body
    return [f"{b['ecosystem']}:{b['name']}@{b['version']}" for b in body["items"]]


async def _csrf(context: BrowserContext, team: str | None = None) -> dict[str, str]:
    headers = {"X-MNO-Team": team} if team else {}
    session = await (await context.request.get("/api/v1/session", headers=headers)).json()
    return {**headers, "X-CSRF-Token": session["csrf_token"], "HX-Request": "true"}


async def _swapped(page: Page, action: Any, status: int = 200) -> None:
    """Run `action` (a click that posts an htmx write) and wait until the body it answers replaced
    the page's (the old body is marked first, so a stale one is never read)."""
    await page.evaluate("document.getElementById('supply-chain-body').dataset.stale = 'true'")
    async with page.expect_response(lambda r: r.request.method == "POST" and PATH in r.url) as answer:
        await action
    response = await answer.value
    assert response.status == status, await response.text()
    await page.wait_for_selector("#supply-chain-body:not([data-stale])")


async def _submit(page: Page, form: Any) -> None:
    await _swapped(page, form.locator("button[type=submit]").click())


async def test_owner_sets_the_policy_and_sees_the_version_it_blocks(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """With nothing blocked the page says so and lists the high finding; setting `high` in the policy
    form saves it (as the API then answers) and the blocked panel shows the app's version with the
    advisory that blocks it, in the vulnerable dependency."""
    await _policy(stage, "none")
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(PATH)
    assert "Supply chain" in await page.locator("nav").inner_text()
    assert await page.locator("#policy-blocks").get_attribute("data-block-severity") == "none"
    assert await page.locator("#blocked-none").count() == 1
    row = page.locator(f'#findings table[data-severity="high"] tr[data-advisory="{vulnerable.advisory}"]')
    assert await row.count() == 1
    assert vulnerable.vuln in await row.inner_text()
    assert await row.get_attribute("data-triage") == "under_investigation"

    await page.click("#policy summary")
    await page.select_option("#sc-block", "high")
    await page.fill("#sc-quarantine", "2")
    await _submit(page, page.locator("#policy-form"))
    assert "Policy saved" in await page.locator("#supply-chain-done").inner_text()
    assert await page.locator("#policy-blocks").get_attribute("data-block-severity") == "high"
    assert await page.locator("#policy-quarantine").get_attribute("data-quarantine-days") == "2"
    status, policy = await stage.api("GET", "/api/v1/supply-chain/policy")
    assert status == 200
    assert (policy["block_severity"], policy["quarantine_days"]) == ("high", 2)
    blocked = page.locator(f'#blocked tr[data-blocked="pypi:{vulnerable.app}@1.0"]')
    assert await blocked.count() == 1
    why = await blocked.inner_text()
    assert vulnerable.advisory in why
    assert f"{vulnerable.vuln}@1.0" in why
    assert await _blocked(stage) == [f"pypi:{vulnerable.app}@1.0"]
    await screenshot(page, "supply-chain")
    await context.close()
    await _policy(stage, "none")


async def test_override_a_blocked_version_then_withdraw_it(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """Overriding the blocked version with a reason lists the override (by the admin's login) and
    unblocks the version, as the API says; withdrawing it (confirmed) blocks it again."""
    await _policy(stage, "high")
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(PATH)
    key = f"pypi:{vulnerable.app}@1.0"
    blocked = page.locator(f'#blocked tr[data-blocked="{key}"]')
    await blocked.locator("details.override summary").click()
    await blocked.locator("input[name=reason]").fill("not reachable from our code")
    await _submit(page, blocked.locator("form"))
    assert "allowed" in await page.locator("#supply-chain-done").inner_text()
    override = page.locator(f'#overrides tr[data-version="{key}"]')
    assert await override.locator(".override-reason").inner_text() == "not reachable from our code"
    assert "local-admin" in await override.inner_text()
    assert await page.locator(f'#blocked tr[data-blocked="{key}"]').count() == 0
    assert [(o["name"], o["reason"]) for o in await _overrides(stage)] == [
        (vulnerable.app, "not reachable from our code")
    ]
    assert await _blocked(stage) == []
    await screenshot(page, "supply-chain-override")

    await _swapped(page, override.locator("button", has_text="Withdraw").click())
    assert await page.locator(f'#blocked tr[data-blocked="{key}"]').count() == 1
    assert await page.locator("#overrides-none").count() == 1
    assert await _overrides(stage) == []
    assert await _blocked(stage) == [key]
    await context.close()
    await _policy(stage, "none")


async def test_triage_a_finding_from_the_page(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """Triage as affected without an action statement shows the API's refusal and changes nothing;
    with one it stays open (affected); as not_affected with a justification it leaves the open
    findings and the version is no longer blocked, as the API says."""
    await _policy(stage, "high")
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(PATH)
    row = page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]')
    await row.locator("details.triage-form summary").click()
    await row.locator("select[name=status]").select_option("affected")
    await _submit(page, row.locator("form"))
    assert "action statement" in await page.locator("#findings [role=alert]").inner_text()
    row = page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]')
    assert await row.get_attribute("data-triage") == "under_investigation"

    await row.locator("details.triage-form summary").click()
    await row.locator("select[name=status]").select_option("affected")
    await row.locator("input[name=statement]").fill("upgrade to 2.0")
    await _submit(page, row.locator("form"))
    row = page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]')
    assert await row.get_attribute("data-triage") == "affected"
    assert await _blocked(stage) == [f"pypi:{vulnerable.app}@1.0"]

    await row.locator("details.triage-form summary").click()
    await row.locator("select[name=status]").select_option("not_affected")
    await row.locator("select[name=justification]").select_option("vulnerable_code_not_in_execute_path")
    await _submit(page, row.locator("form"))
    assert "not affected" in await page.locator("#supply-chain-done").inner_text()
    assert await page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]').count() == 0
    assert await page.locator("#blocked-none").count() == 1
    status, detail = await stage.api("GET", f"/api/v1/vulnerabilities/{vulnerable.finding_id}")
    assert status == 200, detail
    assert detail["triage"]["status"] == "not_affected"
    assert detail["triage"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert await _blocked(stage) == []
    await context.close()
    # Open again for the module's other tests.
    status, body = await stage.api(
        "POST",
        f"/api/v1/vulnerabilities/{vulnerable.finding_id}/triage",
        json={"status": "under_investigation"},
    )
    assert status == 200, body
    await _policy(stage, "none")


async def test_a_viewer_sees_no_form_and_every_write_is_403(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """A viewer reads the policy, the blocked version and the findings but is offered no write, and
    each of the page's writes with a valid CSRF token is 403; an owner is offered the policy, override
    and triage forms, and an owner's write without the CSRF token is 403 too. Nothing changed."""
    await _policy(stage, "high")
    viewer = await stage.context(chromium, await stage.member(Role.VIEWER))
    page = await viewer.new_page()
    response = await page.goto(PATH)
    assert response is not None
    assert response.status == 200
    assert await page.locator(f'#blocked tr[data-blocked="pypi:{vulnerable.app}@1.0"]').count() == 1
    assert await page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]').count() == 1
    assert write_controls(await page.content()) == []
    assert await page.locator("#policy-form, details.override, details.triage-form").count() == 0
    assert await page.locator("#policy-unrated").get_attribute("data-block-unrated") == "false"
    assert await page.locator("#sc-unrated, input[name=block_unrated]").count() == 0
    await screenshot(page, "supply-chain-viewer")
    headers = await _csrf(viewer)
    for path, body in WRITES.items():
        refused = await viewer.request.post(path, data=body, headers=headers)
        assert refused.status == 403, path
    owner, owner_page = await signed_in(stage, chromium)
    await owner_page.goto(PATH)
    offered = set(write_controls(await owner_page.content()))
    assert offered >= {f"{PATH}/policy", f"{PATH}/overrides/create", f"{PATH}/triage"}
    forged = await owner.request.post(
        f"{PATH}/policy", data=WRITES[f"{PATH}/policy"], headers={"X-MNO-Team": stage.team.id}
    )
    assert forged.status == 403
    status, policy = await stage.api("GET", "/api/v1/supply-chain/policy")
    assert (status, policy["block_severity"], policy["quarantine_days"]) == (200, "high", 0)
    assert await _overrides(stage) == []
    await viewer.close()
    await owner.close()
    await _policy(stage, "none")


async def test_another_team_sees_none_of_the_teams_rows_and_cannot_touch_them(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """An owner of another team sees its own (empty) policy, no blocked version, no override and none
    of the team's findings; its writes naming the team's override or finding are the API's 404, shown
    as the form's error, and the team's override and triage are unchanged."""
    await _policy(stage, "high")
    status, override = await stage.api(
        "POST",
        "/api/v1/supply-chain/policy/overrides",
        json={"ecosystem": "pypi", "name": vulnerable.app, "version": "1.0", "reason": "team A's"},
    )
    assert status == 201, override
    try:
        other_team, token = await other_team_session(stage)
        context = await stage.context(chromium, token)
        page = await context.new_page()
        await page.goto(PATH)
        html = await page.content()
        assert await page.locator("#policy-blocks").get_attribute("data-block-severity") == "none"
        assert await page.locator("#blocked-none").count() == 1
        assert await page.locator("#overrides-none").count() == 1
        assert vulnerable.advisory not in html
        assert vulnerable.app not in html
        assert "team A's" not in html
        headers = await _csrf(context, other_team)
        gone = await context.request.post(
            f"{PATH}/overrides/delete", data={"override_id": override["id"]}, headers=headers
        )
        assert gone.status == 200
        assert "no such override" in await gone.text()
        triaged = await context.request.post(
            f"{PATH}/triage",
            data={"finding_id": vulnerable.finding_id, "status": "fixed", "statement": "not ours"},
            headers=headers,
        )
        assert triaged.status == 200
        assert 'role="alert"' in await triaged.text()
        assert vulnerable.advisory not in await triaged.text()
        await context.close()
        assert [o["id"] for o in await _overrides(stage)] == [override["id"]]
        status, detail = await stage.api("GET", f"/api/v1/vulnerabilities/{vulnerable.finding_id}")
        assert status == 200
        assert detail["finding"]["triage"] in (None, "under_investigation")
    finally:
        await stage.api("DELETE", f"/api/v1/supply-chain/policy/overrides/{override['id']}")
        await _policy(stage, "none")


async def test_the_page_carries_the_csp_and_has_no_serious_axe_finding(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser, axe_source: str
) -> None:
    """The page (with a blocked version, an override and open findings) has a CSP without
    'unsafe-inline' and no inline script or style; axe-core finds nothing serious or critical on a
    laptop and a phone, it does not scroll sideways on the phone, and chromium reports no CSP
    violation."""
    await _policy(stage, "high")
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    response = await context.request.get(PATH, headers={"X-MNO-Team": stage.team.id})
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert inline_code(await response.text()) == (0, [], 0, 0)
    await assert_accessible_on_laptop_and_phone(page, PATH, axe_source)
    await screenshot(page, "supply-chain-phone")
    assert violations == []
    await context.close()
    await _policy(stage, "none")


async def test_the_page_shows_the_advisory_imports_the_api_answers(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """The advisories panel shows the held count and each of the latest imports the API answers (by
    id: source, status, files and the records it changed), the module's own import among them."""
    status, answer = await stage.api("GET", "/api/v1/supply-chain/advisories", params={"limit": "10"})
    assert status == 200, answer
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(PATH)
    assert await page.locator("#advisories-held").get_attribute("data-advisories") == str(
        answer["advisories"]
    )
    rows = page.locator("#advisory-imports tbody tr")
    assert await rows.count() == len(answer["imports"]) > 0
    ours = None
    for item in answer["imports"]:
        row = page.locator(f'#advisory-imports tr[data-import-id="{item["id"]}"]')
        assert await row.get_attribute("data-source") == item["source"]
        assert await row.get_attribute("data-status") == item["status"]
        counts = await row.locator(".import-counts").inner_text()
        assert counts.startswith(f"{item['new']} new, {item['modified']} modified"), counts
        if item["source"] == "dashboard-test" and item["new"] == 1:
            ours = row
    assert ours is not None, "the module's import is not among the latest"
    assert await ours.get_attribute("data-status") == "finished"
    assert "finished" in await page.locator("#advisories-last").inner_text()
    await context.close()


async def test_the_package_page_offers_the_versions_sbom_and_its_findings(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """The app's 1.0 page links its SBOM's CycloneDX and SPDX downloads (each naming the vulnerable
    dependency) and lists the finding, open, with its triage; triaged not_affected it shows as such
    and no longer open. Another team gets the page's 404 and the downloads' 404."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(package_path(vulnerable.app, "1.0"))
    row = page.locator(f'#sbom-findings tr[data-advisory="{vulnerable.advisory}"]')
    assert await row.get_attribute("data-finding-id") == vulnerable.finding_id
    assert await row.get_attribute("data-triage") == "under_investigation"
    assert await row.get_attribute("data-open") == "true"
    assert "2.0" in await row.inner_text()
    assert await page.locator("#sbom-open-findings").inner_text() == "1 open"
    team = {"X-MNO-Team": stage.team.id}
    hrefs = {}
    for kind, marker in (("cyclonedx", '"bomFormat"'), ("spdx", '"spdxVersion"')):
        href = await page.locator(f"#sbom-{kind}").get_attribute("href")
        assert href is not None
        hrefs[kind] = href
        response = await context.request.get(href, headers=team)
        assert response.status == 200, await response.text()
        text = await response.text()
        assert marker in text
        assert vulnerable.vuln in text

    status, body = await stage.api(
        "POST",
        f"/api/v1/vulnerabilities/{vulnerable.finding_id}/triage",
        json={"status": "not_affected", "justification": "vulnerable_code_not_present"},
    )
    assert status == 200, body
    try:
        await page.goto(package_path(vulnerable.app, "1.0"))
        row = page.locator(f'#sbom-findings tr[data-advisory="{vulnerable.advisory}"]')
        assert await row.get_attribute("data-triage") == "not_affected"
        assert await row.get_attribute("data-open") == "false"
        assert await row.locator(".triage").inner_text() == "not affected"
        assert await page.locator("#sbom-open-findings").inner_text() == "0 open"
    finally:
        status, body = await stage.api(
            "POST",
            f"/api/v1/vulnerabilities/{vulnerable.finding_id}/triage",
            json={"status": "under_investigation"},
        )
        assert status == 200, body
    await context.close()

    other_team, token = await other_team_session(stage)
    other = await stage.context(chromium, token)
    page = await other.new_page()
    response = await page.goto(package_path(vulnerable.app, "1.0"))
    assert response is not None
    assert response.status == 404
    assert vulnerable.advisory not in await page.content()
    for href in hrefs.values():
        refused = await other.request.get(href, headers={"X-MNO-Team": other_team})
        assert refused.status == 404
        assert vulnerable.vuln not in await refused.text()
    await other.close()


async def test_owner_makes_unrated_findings_block_and_sees_the_apis_refusals(
    stage: Stage, unrated: Vulnerable, chromium: Browser
) -> None:
    """Under a high policy the app whose dependency has an advisory without a severity is not
    blocked; ticking "findings without a severity rating block too" saves block_unrated through the
    API (as it then answers) and blocks the app with its unrated finding; unticking releases it. A
    value the API refuses (block_unrated "maybe", a quarantine past 365 days) comes back in the
    policy panel naming the field, and changes nothing."""
    await _policy(stage, "high", block_unrated=False)
    key = f"pypi:{unrated.app}@1.0"
    try:
        context, page = await signed_in(stage, chromium, viewport=LAPTOP)
        await page.goto(PATH)
        assert await page.locator("#policy-unrated").get_attribute("data-block-unrated") == "false"
        assert "Do not block" in await page.locator("#policy-unrated").inner_text()
        assert await page.locator(f'#blocked tr[data-blocked="{key}"]').count() == 0
        assert key not in await _blocked(stage)

        await page.click("#policy summary")
        assert await page.locator("#sc-block").input_value() == "high"
        assert not await page.locator("#sc-unrated").is_checked()
        await page.check("#sc-unrated")
        await _submit(page, page.locator("#policy-form"))
        assert "findings without a rating" in await page.locator("#supply-chain-done").inner_text()
        assert await page.locator("#policy-unrated").get_attribute("data-block-unrated") == "true"
        status, policy = await stage.api("GET", "/api/v1/supply-chain/policy")
        assert status == 200
        assert (policy["block_severity"], policy["block_unrated"]) == ("high", True)
        blocked = page.locator(f'#blocked tr[data-blocked="{key}"]')
        assert await blocked.count() == 1
        assert (
            await blocked.locator(f'li[data-finding-id="{unrated.finding_id}"] .tag').inner_text()
            == "unrated"
        )
        assert key in await _blocked(stage)
        await screenshot(page, "supply-chain-unrated")

        await page.click("#policy summary")
        assert await page.locator("#sc-unrated").is_checked()
        await page.uncheck("#sc-unrated")
        await _submit(page, page.locator("#policy-form"))
        assert await page.locator("#policy-unrated").get_attribute("data-block-unrated") == "false"
        status, policy = await stage.api("GET", "/api/v1/supply-chain/policy")
        assert policy["block_unrated"] is False
        assert await page.locator(f'#blocked tr[data-blocked="{key}"]').count() == 0
        assert key not in await _blocked(stage)

        headers = await _csrf(context)
        for body, field in (
            (
                {"block_severity": "high", "quarantine_days": "0", "block_unrated": "maybe"},
                "rating block too",
            ),
            ({"block_severity": "high", "quarantine_days": "400"}, "Quarantine"),
        ):
            refused = await context.request.post(f"{PATH}/policy", data=body, headers=headers)
            assert refused.status == 200
            answered = await refused.text()
            assert 'role="alert"' in answered
            alert = answered.split('role="alert">', 1)[1].split("</p>", 1)[0]
            assert field in alert, alert
        status, policy = await stage.api("GET", "/api/v1/supply-chain/policy")
        assert (policy["block_severity"], policy["block_unrated"], policy["quarantine_days"]) == (
            "high",
            False,
            0,
        )
        await context.close()
    finally:
        await _policy(stage, "none", block_unrated=False)


async def test_a_findings_sbom_link_offers_its_vex_exports(
    stage: Stage, vulnerable: Vulnerable, chromium: Browser
) -> None:
    """A finding's "its SBOM" link narrows the page to the app's SBOM: its counts and findings, and
    its OpenVEX and CycloneDX VEX exports, whose documents state the finding (under investigation)."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(PATH)
    assert await page.locator("#findings-vex-note").count() == 1
    row = page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]')
    await row.locator("a.finding-sbom").click()
    await page.wait_for_selector("#findings-scope")
    assert f"{vulnerable.app} 1.0" in await page.locator("#findings-title").inner_text()
    assert await page.locator(f'#findings tr[data-finding-id="{vulnerable.finding_id}"]').count() == 1
    assert await page.locator("#findings tr[data-finding-id]").count() == 1
    assert await page.locator("#summary-open").get_attribute("data-open") == "1"
    team = {"X-MNO-Team": stage.team.id}
    for selector, marker in (
        ("a.scope-openvex", '"statements"'),
        ("a.scope-vex-cyclonedx", '"vulnerabilities"'),
    ):
        href = await page.locator(f"#findings-exports {selector}").get_attribute("href")
        assert href is not None
        response = await context.request.get(href, headers=team)
        assert response.status == 200, await response.text()
        text = await response.text()
        assert marker in text
        assert vulnerable.advisory in text
    await screenshot(page, "supply-chain-sbom-findings")
    await context.close()


async def _detail(stage: Stage, finding_id: str) -> tuple[str, dict[str, Any] | None]:
    """The status of the decision that applies to the finding, and the product it is of (None: the
    team-wide one)."""
    status, detail = await stage.api("GET", f"/api/v1/vulnerabilities/{finding_id}")
    assert status == 200, detail
    return detail["triage"]["status"], detail["triage"]["product"]


async def test_on_one_products_page_a_triage_is_that_products_only_until_withdrawn(
    stage: Stage, shared: Shared, chromium: Browser, axe_source: str
) -> None:
    """On the app's SBOM page the triage form's default, "this product only", makes not_affected the
    app's own decision: the finding leaves the open list for "closed for this product only" (saying
    so), the app's version is no longer blocked, and the lockfile with the same component keeps the
    team-wide under investigation; the page has no serious axe finding and nothing inline. "Use the
    team-wide decision" (confirmed) withdraws it: the finding is open again under the team-wide
    decision, as the API says, and the version is blocked again."""
    await _policy(stage, "low")
    key = f"pypi:{shared.app}@1.0"
    try:
        context, page = await signed_in(stage, chromium, viewport=LAPTOP)
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.goto(f"{PATH}?sbom={shared.app_sbom}")
        open_row = f'#findings table[data-severity] tr[data-finding-id="{shared.app_finding}"]'
        closed_row = f'#closed-by-product tr[data-finding-id="{shared.app_finding}"]'
        row = page.locator(open_row)
        assert (await row.get_attribute("data-scope"), await row.get_attribute("data-triage")) == (
            "team",
            "under_investigation",
        )
        assert await row.locator(".triage-scope").inner_text() == "team-wide"
        assert await row.locator("button.withdraw-triage").count() == 0
        assert key in await _blocked(stage)

        await row.locator("details.triage-form summary").click()
        assert await page.locator(f"#triage-scope-product-{shared.app_finding}").is_checked()
        assert not await page.locator(f"#triage-scope-team-{shared.app_finding}").is_checked()
        await screenshot(page, "supply-chain-product-triage-form")
        await row.locator("select[name=status]").select_option("not_affected")
        await row.locator("select[name=justification]").select_option("vulnerable_code_not_in_execute_path")
        await _submit(page, row.locator("form"))
        assert "for this product only" in await page.locator("#supply-chain-done").inner_text()
        assert await page.locator(open_row).count() == 0
        closed = page.locator(closed_row)
        assert (await closed.get_attribute("data-scope"), await closed.get_attribute("data-triage")) == (
            "product",
            "not_affected",
        )
        assert await closed.locator(".triage-scope").inner_text() == "this product only"
        status, product = await _detail(stage, shared.app_finding)
        assert (status, product and product["name"]) == ("not_affected", shared.app)
        assert await _detail(stage, shared.lockfile_finding) == ("under_investigation", None)
        status, listed = await stage.api(
            "GET", "/api/v1/vulnerabilities", params={"sbom_id": shared.lockfile_sbom}
        )
        assert [(f["triage"], f["triage_scope"]) for f in listed["items"]] == [
            ("under_investigation", "team")
        ]
        assert key not in await _blocked(stage)

        response = await context.request.get(
            f"{PATH}?sbom={shared.app_sbom}", headers={"X-MNO-Team": stage.team.id}
        )
        markup = Markup()
        markup.feed(await response.text())
        assert (markup.inline_scripts, markup.inline_handlers, markup.style_attributes) == (0, [], 0)
        await page.evaluate(axe_source)
        assert await page.evaluate(SERIOUS) == []
        await screenshot(page, "supply-chain-product-triage")

        await _swapped(page, closed.locator("button.withdraw-triage").click())
        assert "withdrawn" in await page.locator("#supply-chain-done").inner_text()
        assert await page.locator(closed_row).count() == 0
        row = page.locator(open_row)
        assert (await row.get_attribute("data-scope"), await row.get_attribute("data-triage")) == (
            "team",
            "under_investigation",
        )
        assert await _detail(stage, shared.app_finding) == ("under_investigation", None)
        assert key in await _blocked(stage)
        await context.close()
    finally:
        await stage.api(
            "POST",
            f"/api/v1/vulnerabilities/{shared.app_finding}/triage/withdraw",
            json={"product": {"sbom_id": shared.app_sbom}},
        )
        await _policy(stage, "none")
