"""The Team and Account pages in Debian's chromium against the session's real mesh: invitations, API
keys (the token once), roles, the audit log and its chain, the plan's usage; roles and accessibility."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Browser, Page

from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, PHONE, Stage, screenshot
from tests.dashboard.test_browser import signed_in, write_controls

TEAM_PAGE = "/dashboard/members"
ACCOUNT_PAGE = "/dashboard/account"
# The elements that stick out past a narrow window, to name in a failure.
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap')))
  .slice(0, 8)
  .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def bearer_status(stage: Stage, token: str) -> int:
    """The status of GET /api/v1/budgets with only this bearer token (no browser cookies)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stage.edge}/api/v1/budgets", headers={"Authorization": f"Bearer {token}"}) as answer,
    ):
        return answer.status


async def accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


async def test_an_owner_invites_a_member_and_the_api_lists_the_invitation(
    stage: Stage, chromium: Browser
) -> None:
    """Sending the invite form creates an invitation (GET /api/v1/invitations has it), its token is
    shown once, and resend then revoke change its row."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await accept_dialogs(page)
    await page.goto(TEAM_PAGE)
    await page.click("#invitations summary")
    await page.fill("#invitee", "new.person@example.com")
    await page.select_option("#invite-role", "viewer")
    await page.click("#invitations form button[type=submit]")
    await page.wait_for_selector("#issued-invitation")
    first_token = await page.input_value("#invitation-token")
    assert first_token
    status, listed = await stage.api("GET", "/api/v1/invitations")
    assert status == 200, listed
    mine = [i for i in listed["invitations"] if i["email"] == "new.person@example.com"]
    assert len(mine) == 1, listed
    assert (mine[0]["role"], mine[0]["status"]) == ("viewer", "pending")
    row = page.locator(f'tr[data-invitation-id="{mine[0]["id"]}"]')
    await screenshot(page, "team-invited")
    await row.locator("text=Resend").click()
    # The panel is swapped whole with the new token: wait for it, or Revoke may be clicked on the
    # panel that is being replaced (and be lost).
    await page.wait_for_function(
        "old => { const field = document.querySelector('#invitation-token');"
        " return field !== null && field.value !== '' && field.value !== old; }",
        arg=first_token,
    )
    await page.locator(f'tr[data-invitation-id="{mine[0]["id"]}"]').locator("text=Revoke").click()
    await page.wait_for_selector(f'tr[data-invitation-id="{mine[0]["id"]}"] td:text-is("revoked")')
    assert await page.locator("#flash").inner_text() == "", "an htmx request of the page failed"
    status, one = await stage.api("GET", f"/api/v1/invitations/{mine[0]['id']}")
    assert status == 200, one
    assert (one["status"], one["send_count"]) == ("revoked", 2)
    await context.close()


async def test_a_new_api_key_is_shown_once_works_and_is_revoked(stage: Stage, chromium: Browser) -> None:
    """Creating a key shows its token once (a reload lists the key without it); the token reads the
    API; revoking it from the page makes the API refuse it (401)."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await accept_dialogs(page)
    await page.goto(TEAM_PAGE)
    await page.click("#keys summary")
    await page.fill("#key-name", "ci ingest")
    await page.select_option("#key-access", "read")
    await page.click("#keys form button[type=submit]")
    await page.wait_for_selector("#created-key")
    token = await page.input_value("#new-key-token")
    assert token
    key_id = await page.locator("#keys tr", has_text="ci ingest").first.get_attribute("data-key-id")
    await screenshot(page, "team-key-created")
    assert await bearer_status(stage, token) == 200
    await page.reload()
    assert token not in await page.content(), "the token is shown again after a reload"
    assert await page.locator("#created-key").count() == 0
    await page.locator(f'tr[data-key-id="{key_id}"]').locator("text=Revoke").click()
    await page.wait_for_selector(f'tr[data-key-id="{key_id}"].revoked')
    assert await bearer_status(stage, token) == 401
    await context.close()


async def test_the_audit_log_filters_exports_and_its_chain_holds(stage: Stage, chromium: Browser) -> None:
    """The audit log lists the team's changes newest first (as GET /api/v1/audit), a filter narrows it,
    the export link answers CSV, and the chain status says intact."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    status, key = await stage.api(
        "POST", "/api/v1/apikeys", json={"name": "audited", "permissions": ["costs:read"]}
    )
    assert status in (200, 201), key
    await page.goto(TEAM_PAGE)
    await page.wait_for_selector("#chain-status[data-intact=true]")
    status, audit = await stage.api("GET", "/api/v1/audit", params={"limit": "1"})
    assert status == 200, audit
    first_row = page.locator("#audit-table tbody tr").first
    assert str(audit["entries"][0]["seq"]) == (await first_row.locator("th").inner_text()).strip()
    await page.fill("#audit-action", "apikeys.create")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    actions = await page.locator("#audit-table tbody td:nth-of-type(2)").all_inner_texts()
    assert set(actions) == {"apikeys.create"}, actions
    export = await context.request.get(
        "/api/v1/audit/export?format=csv", headers={"X-MNO-Team": stage.team.id}
    )
    assert export.status == 200
    assert "apikeys.create" in await export.text()
    await screenshot(page, "team-audit")
    await context.close()


async def test_a_viewer_sees_no_team_writes_and_a_forged_one_is_refused(
    stage: Stage, chromium: Browser
) -> None:
    """A viewer's Team page offers no write (no invite, no role change, no key); an owner's offers them;
    the viewer's posts to the page's write routes, with a valid CSRF token, are refused (403)."""
    viewer = await stage.context(chromium, await stage.member(Role.VIEWER), viewport=LAPTOP)
    page = await viewer.new_page()
    await page.goto(TEAM_PAGE)
    assert page.url.endswith(TEAM_PAGE)
    assert write_controls(await page.content()) == []
    assert await page.locator("#keys").count() == 0, "a viewer may not see the API keys"
    await screenshot(page, "team-viewer")
    session = await (await viewer.request.get("/api/v1/session")).json()
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    for path, body in (
        (f"{TEAM_PAGE}/invite", {"invitee": "x@example.com", "role": "owner"}),
        (f"{TEAM_PAGE}/keys", {"name": "nope", "access": "all"}),
        (f"{TEAM_PAGE}/role", {"user_id": session["user"]["id"], "role": "owner"}),
        (f"{TEAM_PAGE}/keys/revoke", {"key_id": "abc"}),
    ):
        refused = await viewer.request.post(path, data=body, headers=csrf)
        assert refused.status == 403, path
    owner, owner_page = await signed_in(stage, chromium)
    await owner_page.goto(TEAM_PAGE)
    offered = write_controls(await owner_page.content())
    assert {f"{TEAM_PAGE}/invite", f"{TEAM_PAGE}/keys"} <= set(offered), offered
    forged = await owner.request.post(
        f"{TEAM_PAGE}/keys", data={"name": "forged", "access": "all"}, headers={"X-MNO-Team": stage.team.id}
    )
    assert forged.status == 403, "a write without the CSRF token went through"
    await viewer.close()
    await owner.close()


async def test_an_owner_changes_a_role_and_removes_a_member(stage: Stage, chromium: Browser) -> None:
    """Changing a member's role and removing them from the page is what GET /api/v1/members then says."""
    await stage.member(Role.MEMBER)
    status, members = await stage.api("GET", "/api/v1/members", params={"role": "member"})
    assert status == 200, members
    target = members["members"][0]["user_id"]
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await accept_dialogs(page)
    await page.goto(TEAM_PAGE)
    row = page.locator(f'#members tr[data-user-id="{target}"]')
    await row.locator("select").select_option("admin")
    await row.locator("text=Change").click()
    await page.wait_for_selector(
        f'#members tr[data-user-id="{target}"] option[value=admin][selected]', state="attached"
    )
    status, member = await stage.api("GET", f"/api/v1/members/{target}")
    assert status == 200, member
    assert member["role"] == "admin", member
    await page.locator(f'#members tr[data-user-id="{target}"]').locator("text=Remove").click()
    await page.wait_for_selector(f'#members tr[data-user-id="{target}"]', state="detached")
    status, _gone = await stage.api("GET", f"/api/v1/members/{target}")
    assert status == 404
    await context.close()


async def test_the_account_page_shows_the_plan_and_usage_of_the_api(stage: Stage, chromium: Browser) -> None:
    """The plan and each limit's use shown equal GET /api/v1/usage; the local account (no GitHub) gets
    the GitHub panel's empty state, saying how to link one."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(ACCOUNT_PAGE)
    status, usage = await stage.api("GET", "/api/v1/usage")
    assert status == 200, usage
    assert await page.get_attribute("#plan-name", "data-plan") == usage["plan"]
    for name, used in usage["usage"].items():
        assert await page.get_attribute(f'#limits tr[data-limit="{name}"]', "data-used") == str(used), name
    assert "Install the App" in await page.locator("#installations .empty").inner_text()
    await screenshot(page, "account-laptop")
    await context.close()


async def test_team_and_account_pages_are_accessible_on_a_laptop_and_a_phone(
    stage: Stage, chromium: Browser, axe_source: str
) -> None:
    """axe-core finds no serious or critical violation on the Team and Account pages, and a phone's
    screen holds them without scrolling sideways."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    for path, name in ((TEAM_PAGE, "team"), (ACCOUNT_PAGE, "account")):
        await page.set_viewport_size(LAPTOP)
        await page.goto(path)
        if path == TEAM_PAGE:
            await page.wait_for_selector("#chain-status")
            await screenshot(page, "team-laptop")
        for viewport, label in ((LAPTOP, "laptop"), (PHONE, "phone")):
            await page.set_viewport_size(viewport)
            await page.evaluate(axe_source)
            result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            serious = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], f"{name} {label}"
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = await page.evaluate(WIDEST)
        assert overflow <= 0, f"the {name} page scrolls sideways on a phone: {wide}"
        await screenshot(page, f"{name}-phone")
    await context.close()
