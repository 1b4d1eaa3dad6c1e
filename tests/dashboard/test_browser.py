"""The dashboard in Debian's chromium against the session's real mesh: sign-in, the overview's figures
against the API's, the security headers and CSP, CSRF, roles, logout and accessibility."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from services.dashboard import formatting
from services.dashboard.pages import PAGES
from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, PHONE, Stage, screenshot

WRITE_ATTRIBUTES = ("hx-post", "hx-put", "hx-patch", "hx-delete")
# Not writes of team data: leaving, and choosing which of your teams to look at.
NOT_WRITES = {"/auth/logout", "/dashboard/team"}


async def signed_in(stage: Stage, browser: Browser, **options: Any) -> tuple[BrowserContext, Page]:
    """A browser signed in through the one-time link, looking at the stage's team."""
    context = await stage.context(browser, **options)
    page = await context.new_page()
    response = await page.goto(await stage.sign_in_link())
    assert response is not None
    assert response.ok
    await context.add_cookies([{"name": "mno_team", "value": stage.team.id, "url": stage.edge}])
    return context, page


class Markup(HTMLParser):
    """What a page's HTML would run or style inline: the CSP refuses all of it."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.inline_handlers: list[str] = []
        self.style_attributes = 0
        self.style_elements = 0
        self.script_srcs: list[str] = []
        self._open_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.inline_handlers += [name for name in values if name.startswith("on")]
        self.style_attributes += "style" in values
        self.style_elements += tag == "style"
        if tag == "script":
            if values.get("src"):
                self.script_srcs.append(str(values["src"]))
            self._open_script_without_src = not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._open_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open_script_without_src = False


# axe-core's serious and critical violations of the page it was loaded into.
SERIOUS = """axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => [v.id, v.impact, v.nodes.slice(0, 3).map(n => n.target)]))"""


def inline_code(html: str) -> tuple[int, list[str], int, int]:
    """What the HTML would run or style inline, all of which the CSP refuses: (script elements without
    src, on* handler attributes, style attributes, style elements)."""
    markup = Markup()
    markup.feed(html)
    return (markup.inline_scripts, markup.inline_handlers, markup.style_attributes, markup.style_elements)


async def assert_accessible_on_laptop_and_phone(page: Page, path: str, axe_source: str) -> None:
    """axe-core finds nothing serious or critical at `path` on a laptop and on a phone, and the phone's
    view does not scroll sideways; the page is left at `path` on the phone."""
    for viewport in (LAPTOP, PHONE):
        await page.set_viewport_size(viewport)  # type: ignore[arg-type]
        await page.goto(path)
        await page.evaluate(axe_source)
        assert await page.evaluate(SERIOUS) == [], (path, viewport)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways on a phone"


async def test_local_sign_in_link_signs_in_once(stage: Stage, chromium: Browser) -> None:
    """The banner's one-time link makes a session of the local admin and lands on the overview; the same
    link a second time is refused with a page saying so."""
    context = await stage.context(chromium)
    page = await context.new_page()
    await page.goto("/dashboard")
    assert page.url.endswith("/sign-in?return_to=%2Fdashboard"), "not signed in: sent to sign in"
    await screenshot(page, "sign-in")
    link = await stage.sign_in_link()
    await page.goto(link)
    assert page.url == f"{stage.edge}/dashboard"
    assert await page.locator("h1").inner_text() == "Overview " + await page.locator("h1 .sub").inner_text()
    assert "local-admin" in await page.locator(".user").inner_text()
    await context.close()
    again = await (await stage.context(chromium)).new_page()
    response = await again.goto(link)
    assert response is not None
    assert response.status == 401
    assert "used up or expired" in await again.locator("main").inner_text()
    await screenshot(again, "sign-in-link-used")


async def test_team_switcher_and_overview_totals_equal_the_costs_api(
    seeded: Stage, chromium: Browser
) -> None:
    """The admin of two teams switches to the seeded one; today's and the month's spend shown equal
    GET /api/v1/costs for the ranges the page names, the daily chart is drawn, and a phone's screen
    holds the page without scrolling sideways."""
    stage = seeded
    context = await stage.context(chromium, viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(await stage.sign_in_link())
    await page.select_option("#team-select", stage.team.id)
    async with page.expect_navigation():
        await page.click(".team-switch button")
    assert stage.team.name in await page.locator("h1 .sub").inner_text()
    for card in ("#spend-today", "#spend-month"):
        element = page.locator(card)
        since, until = await element.get_attribute("data-since"), await element.get_attribute("data-until")
        status, report = await stage.api("GET", "/api/v1/costs", params={"since": since, "until": until})
        assert status == 200, report
        shown = Decimal(str(await element.get_attribute("data-cost-usd")))
        assert shown == Decimal(report["totals"]["cost_usd"]) > 0, card
        assert formatting.usd(shown) in await element.inner_text()
    assert await page.locator("#spend-month").get_attribute("data-events") == "12"
    await page.wait_for_selector(".chart[data-drawn] canvas")
    await page.wait_for_selector("#forecast[aria-busy=false]")
    await screenshot(page, "overview-laptop")
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the phone layout scrolls sideways"
    await screenshot(page, "overview-phone")
    await context.close()


async def test_pages_carry_a_strict_csp_and_run_no_inline_script(stage: Stage, chromium: Browser) -> None:
    """Every page and fragment has the security headers and a CSP without 'unsafe-inline'; its HTML has
    no inline script, handler or style; chromium reports no CSP violation while the overview runs."""
    context, page = await signed_in(stage, chromium)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto("/dashboard")
    await page.wait_for_selector("#forecast[aria-busy=false]")
    anonymous = await stage.context(chromium)
    for client, path in (
        (context, "/dashboard"),
        (context, "/dashboard/overview/forecast"),
        (anonymous, "/sign-in"),
        (anonymous, "/auth/local?token=not-a-real-token-at-all"),
    ):
        response = await client.request.get(path, max_redirects=0)
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp, path
        assert "unsafe-eval" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        markup = Markup()
        markup.feed(await response.text())
        assert markup.inline_scripts == 0, path
        assert markup.inline_handlers == [], path
        assert markup.style_attributes == 0, path
        assert markup.style_elements == 0, path
        assert all(src.startswith("/assets/") for src in markup.script_srcs), path
    assert violations == []
    asset = await context.request.get(markup.script_srcs[0] if markup.script_srcs else "/assets/dashboard.js")
    assert "immutable" in asset.headers["cache-control"]
    await context.close()
    await anonymous.close()


async def test_a_forged_write_without_the_csrf_token_is_refused(stage: Stage, chromium: Browser) -> None:
    """A cookie-authenticated POST without X-CSRF-Token is refused (403), on the dashboard's own route and
    on the API; the same POST with the session's token goes through."""
    context, _page = await signed_in(stage, chromium)
    body = {"name": "forged", "amount_usd": "5"}
    team = {"X-MNO-Team": stage.team.id}
    forged = await context.request.post("/dashboard/overview/budget", data=body, headers=team)
    assert forged.status == 403
    forged_api = await context.request.post("/api/v1/budgets", data={"name": "forged", "amount_usd": "5"})
    assert forged_api.status == 403
    assert (await forged_api.json())["error"]["code"] == "forbidden"
    session = await (await context.request.get("/api/v1/session", headers=team)).json()
    made = await context.request.post(
        "/dashboard/overview/budget",
        data={"name": "Monthly", "amount_usd": "50"},
        headers={**team, "X-CSRF-Token": session["csrf_token"], "HX-Request": "true"},
    )
    assert made.status == 200, await made.text()
    assert "Monthly" in await made.text()
    await context.close()


def write_controls(html: str) -> list[str]:
    """The targets of every htmx write the page offers (sign-out and the team switch aside)."""

    class Writes(HTMLParser):
        found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            for name, value in attrs:
                if name in WRITE_ATTRIBUTES and value not in NOT_WRITES:
                    self.found.append(str(value))

    parser = Writes()
    parser.found = []
    parser.feed(html)
    return parser.found


async def test_a_viewer_sees_no_write_controls_and_cannot_write(stage: Stage, chromium: Browser) -> None:
    """A viewer's overview offers no write (an owner's offers the budget form); the viewer's write with
    a valid CSRF token is refused by the permission (403), as the API would refuse it."""
    viewer = await stage.context(chromium, await stage.member(Role.VIEWER))
    page = await viewer.new_page()
    await page.goto("/dashboard")
    assert page.url.endswith("/dashboard")
    assert write_controls(await page.content()) == []
    await screenshot(page, "overview-viewer")
    session = await (await viewer.request.get("/api/v1/session")).json()
    refused = await viewer.request.post(
        "/dashboard/overview/budget",
        data={"name": "nope", "amount_usd": "5"},
        headers={"X-CSRF-Token": session["csrf_token"]},
    )
    assert refused.status == 403
    owner, owner_page = await signed_in(stage, chromium)
    await owner_page.goto("/dashboard")
    assert "/dashboard/overview/budget" in write_controls(await owner_page.content())
    await viewer.close()
    await owner.close()


async def test_logout_ends_the_session(stage: Stage, chromium: Browser) -> None:
    """Sign out goes to the sign-in page; the session cookie no longer opens the dashboard or the API."""
    context, page = await signed_in(stage, chromium)
    await page.goto("/dashboard")
    cookie = next(c for c in await context.cookies() if c["name"] == "mno_session")
    async with page.expect_navigation():
        await page.click("text=Sign out")
    assert page.url.endswith("/sign-in")
    await page.goto("/dashboard")
    assert "/sign-in" in page.url
    stale = await stage.context(chromium, cookie["value"])
    answer = await stale.request.get("/api/v1/session")
    assert answer.status == 401
    await context.close()
    await stale.close()


async def test_overview_has_no_serious_accessibility_violations(
    seeded: Stage, chromium: Browser, axe_source: str
) -> None:
    """axe-core (from its npm package) finds no serious or critical violation on the overview, on a
    laptop and a phone, nor on the sign-in page."""
    context, page = await signed_in(seeded, chromium, viewport=LAPTOP)
    anonymous = await seeded.context(chromium)
    sign_in = await anonymous.new_page()
    await sign_in.goto("/sign-in")
    checks: list[tuple[Page, str, dict[str, int]]] = [(sign_in, "sign-in", LAPTOP)]
    await page.goto("/dashboard")
    await page.wait_for_selector("#forecast[aria-busy=false]")
    checks += [(page, "overview laptop", LAPTOP), (page, "overview phone", PHONE)]
    for target, name, viewport in checks:
        await target.set_viewport_size(viewport)
        # Through the DevTools protocol, which the page's CSP does not govern.
        await target.evaluate(axe_source)
        result = await target.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], name
    await context.close()
    await anonymous.close()


async def test_every_page_loads_without_a_failed_request_or_console_error(
    seeded: Stage, chromium: Browser
) -> None:
    """Each page of the navigation, with the fragments it loads after, gets no 4xx/5xx answer or failed
    request for anything it asks (asset, icon, fragment) and logs no console error."""
    context, page = await signed_in(seeded, chromium, viewport=LAPTOP)
    problems: list[str] = []
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None)
    for shown in PAGES:
        await page.goto(shown.path)
        await page.wait_for_load_state("networkidle")
        assert problems == [], shown.path
    await context.close()
