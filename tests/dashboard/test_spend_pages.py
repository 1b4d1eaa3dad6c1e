"""The Costs, Budgets, Alerts and Prices pages in Debian's chromium against the session's real mesh:
the explorer's figures against GET /api/v1/costs, drill-down, CSV and shareable URLs; budgets, alert
channels and price overrides written through the pages; a viewer's pages; accessibility; phones."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Browser, Page

from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, PHONE, Stage, screenshot
from tests.dashboard.test_browser import Markup, signed_in, write_controls
from tests.fixtures.edge import until

PAGES = ("/dashboard/costs", "/dashboard/budgets", "/dashboard/alerts", "/dashboard/prices")
MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022"), ("openai", "gpt-4o"))
PROJECTS = ("search", "chat", "ops")


@pytest.fixture(scope="module")
async def spend(stage: Stage) -> Stage:
    """Five days of token events over three models, three projects and two users, through the API."""
    now = datetime.now(UTC)
    events = []
    for i in range(60):
        provider, model = MODELS[i % 3]
        events.append(
            {
                "id": f"spend-{i}",
                "timestamp": (now - timedelta(hours=2 * i)).isoformat(),
                "provider": provider,
                "model": model,
                "input_tokens": 900 + 41 * i,
                "output_tokens": 150 + 13 * i,
                "latency_ms": 300 + 17 * i,
                "project": PROJECTS[i % 3 if i % 4 else 0],
                "user": ("ada", "lin")[i % 2],
            }
        )
    status, body = await stage.api("POST", "/api/v1/token-events", json={"events": events})
    assert status == 200, body
    window = {"since": (now - timedelta(days=6)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}

    async def stored() -> bool:
        code, report = await stage.api("GET", "/api/v1/costs", params=window)
        return code == 200 and report["totals"]["events"] == len(events)

    assert await until(stored, 60), "the events were not stored"
    return stage


async def api_totals(stage: Stage, page: Page, **filters: str) -> dict[str, object]:
    view = page.locator("#view-range")
    since, until_ = await view.get_attribute("data-since"), await view.get_attribute("data-until")
    status, report = await stage.api(
        "GET", "/api/v1/costs", params={"since": str(since), "until": str(until_), **filters}
    )
    assert status == 200, report
    totals: dict[str, object] = report["totals"]
    return totals


async def shown_totals(page: Page) -> tuple[Decimal, int]:
    cost = Decimal(str(await page.locator("#total-cost").get_attribute("data-cost-usd")))
    events = int(str(await page.locator("#total-calls").get_attribute("data-events")))
    return cost, events


async def test_explorer_totals_equal_the_costs_api_and_drill_down_keeps_them(
    spend: Stage, chromium: Browser
) -> None:
    """The explorer's totals for 7 days by model equal GET /api/v1/costs for the range the page names;
    its table's rows add up to them; a click on a model's bar opens that model's calls by project,
    whose totals equal the API's with that filter; the URL alone reopens the same view."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/costs?range=7d&group_by=model")
    await page.wait_for_selector(".chart[data-drawn] canvas")
    api = await api_totals(spend, page)
    cost, events = await shown_totals(page)
    assert cost == Decimal(str(api["cost_usd"])) > 0
    assert events == api["events"] == 60
    rows = page.locator("#group-table tbody tr")
    assert await rows.count() == 3
    row_sum = sum(
        [Decimal(str(await rows.nth(i).get_attribute("data-cost-usd"))) for i in range(3)], Decimal(0)
    )
    assert row_sum == cost
    await screenshot(page, "costs-laptop")
    # Drill-down: the first (costliest) model's bar, clicked on the canvas, by its link.
    first = await rows.nth(0).get_attribute("data-key")
    assert first is not None
    async with page.expect_navigation():
        await page.click(f"#group-table a:text-is('{first}')")
    query = parse_qs(urlparse(page.url).query)
    assert query["model"] == [first]
    assert query["group_by"] == ["project"]
    api = await api_totals(spend, page, model=first)
    cost, events = await shown_totals(page)
    assert cost == Decimal(str(api["cost_usd"])) > 0
    assert events == api["events"]
    assert "Model: " + first in await page.locator(".chip").first.inner_text()
    shared_url = page.url
    await screenshot(page, "costs-drilled")
    other = await (await spend.context(chromium)).new_page()
    await other.context.add_cookies(await context.cookies())
    await other.goto(shared_url)
    assert await shown_totals(other) == (cost, events), "the URL is not the whole view"
    await other.context.close()
    await context.close()


async def test_explorer_bar_click_drills_down(spend: Stage, chromium: Browser) -> None:
    """A click on a bar of the by-group chart (the canvas, not the table) opens that group's rows."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/costs?range=7d&group_by=project")
    chart = page.locator(".chart-tall")
    await page.wait_for_selector(".chart-tall[data-drawn] canvas")
    box = await chart.bounding_box()
    assert box is not None
    # Bars are horizontal, the costliest at the top: click a little right of the axis on the top bar.
    async with page.expect_navigation():
        for step in range(1, 12):
            await page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * step / 14)
            if "project=" in page.url:
                break
    query = parse_qs(urlparse(page.url).query)
    assert query["project"][0] in PROJECTS
    assert query["group_by"] == ["user"]
    await context.close()


async def test_explorer_csv_export_has_the_views_totals(spend: Stage, chromium: Browser) -> None:
    """The CSV link of a view downloads its groups and buckets; its `(all)` total row equals the page's
    totals, and a group name a spreadsheet would read as a formula is quoted."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/costs?range=30d&group_by=user&metric=tokens")
    cost, events = await shown_totals(page)
    href = await page.locator("#csv-link").get_attribute("href")
    assert href is not None
    assert href.startswith("/dashboard/costs.csv?")
    answer = await context.request.get(href)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(await answer.text())))
    total = next(r for r in rows if r["user"] == "(all)")
    assert Decimal(total["cost_usd"]) == cost
    assert int(total["events"]) == events
    assert {r["user"] for r in rows if r["bucket_start"] == "total"} == {"ada", "lin", "(all)"}
    await context.close()


async def test_explorer_refuses_a_bad_view_with_a_page(stage: Stage, chromium: Browser) -> None:
    """A URL naming an unknown grouping or an inverted custom range is a 422 page, never a 500."""
    context, page = await signed_in(stage, chromium)
    for query in ("group_by=colour", "range=custom&since=2025-03-05&until=2025-03-01", "group_by=tag"):
        response = await page.goto(f"/dashboard/costs?{query}")
        assert response is not None
        assert response.status == 422, query
    await context.close()


async def test_budgets_page_creates_edits_and_charts_a_budget(spend: Stage, chromium: Browser) -> None:
    """An owner creates a monthly budget with thresholds and a hard limit through the page's form; it is
    listed (and GET /api/v1/budgets has it), its spend chart with the forecast is drawn, and an edit of
    its amount is saved through the API."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/budgets")
    name = "Explorer month"
    await page.fill("#nb-name", name)
    await page.fill("#nb-amount", "25")
    await page.fill("#nb-thresholds", "50, 90")
    await page.check("#nb-hard")
    await page.click("text=Create budget")
    await page.wait_for_selector(f"#budget-table .done:has-text('{name}')")
    status, listed = await spend.api("GET", "/api/v1/budgets")
    assert status == 200
    made = next(b for b in listed["budgets"] if b["name"] == name)
    assert made["thresholds"] == [50, 90]
    assert made["hard_limit"] is True
    row = page.locator(f"tr[data-budget-id='{made['id']}']")
    assert "hard limit" in await row.inner_text()
    await page.wait_for_selector(".budget-chart-slot[aria-busy=false] .chart[data-drawn] canvas")
    await page.click(f"summary:has-text('Edit {name}')")
    await page.fill(f"#eb-amount-{made['id']}", "40")
    await page.click(f"#budget-table form:has(#eb-amount-{made['id']}) button:text-is('Save')")
    await page.wait_for_selector("#budget-table .done:has-text('saved')")
    _, after = await spend.api("GET", f"/api/v1/budgets/{made['id']}")
    assert Decimal(str(after["amount_usd"])) == 40
    await page.wait_for_selector(".budget-chart-slot[aria-busy=false] .chart[data-drawn] canvas")
    await screenshot(page, "budgets-laptop")
    await context.close()


async def test_budget_form_errors_are_the_apis(stage: Stage, chromium: Browser) -> None:
    """A rolling budget without its hours is refused by POST /api/v1/budgets's rule, shown in the panel."""
    context, page = await signed_in(stage, chromium)
    await page.goto("/dashboard/budgets")
    await page.fill("#nb-name", "No hours")
    await page.fill("#nb-amount", "5")
    await page.select_option("#nb-period", "rolling")
    await page.click("text=Create budget")
    error = page.locator("#budget-table .error")
    await error.wait_for()
    assert "does not match" in await error.inner_text() or "rolling" in await error.inner_text()
    await context.close()


async def test_alerts_page_creates_and_test_sends_a_channel(stage: Stage, chromium: Browser) -> None:
    """An owner's new e-mail channel goes through POST /api/v1/alert-channels: the panel shows the API's
    own answer (this mesh has e-mail off, so the API's refusal, word for word; with it on, the channel,
    then a test-send's outcome); the delivery history and anomalies panels show."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/alerts")
    await page.click("summary:has-text('New channel')")
    await page.fill("#nc-name", "On call")
    await page.fill("#nc-recipients", "oncall@example.com")
    await page.click("text=Create channel")
    await page.wait_for_selector("#channels .error, #channels .done")
    status, answer = await stage.api(
        "POST",
        "/api/v1/alert-channels",
        json={"name": "On call 2", "config": {"kind": "email", "recipients": ["oncall@example.com"]}},
    )
    if status == 201:
        assert "On call" in await page.locator("#channels .done").inner_text()
        await page.click(f"tr[data-channel-id='{answer['channel']['id']}'] button:has-text('Send test')")
        await page.locator("#test-result").wait_for(timeout=60_000)
    else:
        assert await page.locator("#channels .error").inner_text() == answer["error"]["message"]
        _, listed = await stage.api("GET", "/api/v1/alert-channels")
        assert listed["channels"] == []
    assert await page.locator("#deliveries").count() == 1
    assert await page.locator("#anomalies-title").count() == 1
    await screenshot(page, "alerts-laptop")
    await context.close()


async def test_prices_page_adds_an_override_and_reprices(spend: Stage, chromium: Browser) -> None:
    """An owner adds a price override for a model through the page, re-prices the range, and sees the run's
    totals before and after; the after total equals GET /api/v1/costs for the range, and the run is
    listed from the audit log."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/prices")
    await page.click("summary:has-text('New override')")
    await page.fill("#po-provider", "openai")
    await page.fill("#po-model", "gpt-4o-mini")
    await page.fill("#po-in", "100")
    await page.fill("#po-out", "200")
    await page.fill("#po-from", (datetime.now(UTC) - timedelta(days=10)).date().isoformat())
    await page.click("text=Add override")
    await page.wait_for_selector("#overrides .done:has-text('gpt-4o-mini')")
    since = (datetime.now(UTC) - timedelta(days=7)).date()
    await page.fill("#rp-since", since.isoformat())
    await page.fill("#rp-until", datetime.now(UTC).date().isoformat())
    await page.click("#runs button:text-is('Re-price')")
    result = page.locator("#run-result")
    await result.wait_for(timeout=120_000)
    before = Decimal(str(await result.get_attribute("data-before-usd")))
    after = Decimal(str(await result.get_attribute("data-after-usd")))
    assert after > before
    status, report = await spend.api(
        "GET",
        "/api/v1/costs",
        params={
            "since": datetime.combine(since, datetime.min.time(), UTC).isoformat(),
            "until": (
                datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC) + timedelta(days=1)
            ).isoformat(),
        },
    )
    assert status == 200
    assert Decimal(str(report["totals"]["cost_usd"])) == after
    assert await page.locator("#runs tr[data-run-id]").count() >= 1
    await screenshot(page, "prices-laptop")
    await context.close()


FORGED = {
    "/dashboard/budgets/create": {"name": "nope", "amount_usd": "5"},
    "/dashboard/alerts/channels/create": {"name": "nope", "kind": "email", "recipients": "a@example.com"},
    "/dashboard/prices/overrides/create": {"provider": "x", "model_pattern": "y", "discount_percent": "5"},
    "/dashboard/prices/reprice": {"since": "2025-01-01", "until": "2025-01-02"},
}


async def test_a_viewer_sees_no_write_controls_and_its_writes_are_refused(
    spend: Stage, chromium: Browser
) -> None:
    """A viewer opens every page (Costs, Budgets, Alerts, Prices) without a single write control, while an
    owner's pages offer them; the viewer's writes with a valid CSRF token are refused (403) on each
    page's routes, and nothing was created."""
    viewer = await spend.context(chromium, await spend.member(Role.VIEWER))
    page = await viewer.new_page()
    for path in PAGES:
        response = await page.goto(path)
        assert response is not None
        assert response.status == 200, path
        await page.wait_for_load_state("networkidle")
        assert write_controls(await page.content()) == [], path
        await screenshot(page, "viewer-" + path.rsplit("/", 1)[1])
    session = await (await viewer.request.get("/api/v1/session")).json()
    for path, body in FORGED.items():
        refused = await viewer.request.post(
            path, data=body, headers={"X-CSRF-Token": session["csrf_token"], "HX-Request": "true"}
        )
        assert refused.status == 403, path
    _, listed = await spend.api("GET", "/api/v1/budgets")
    assert all(b["name"] != "nope" for b in listed["budgets"])
    owner, owner_page = await signed_in(spend, chromium)
    for path, wanted in (
        ("/dashboard/budgets", "/dashboard/budgets/create"),
        ("/dashboard/alerts", "/dashboard/alerts/channels/create"),
        ("/dashboard/prices", "/dashboard/prices/overrides/create"),
    ):
        await owner_page.goto(path)
        assert wanted in write_controls(await owner_page.content()), path
    await viewer.close()
    await owner.close()


async def test_spend_pages_have_a_strict_csp_pass_axe_and_fit_a_phone(
    spend: Stage, chromium: Browser, axe_source: str
) -> None:
    """Each page has the CSP headers and no inline script or style, chromium reports no CSP violation,
    axe-core finds no serious or critical violation on a laptop and a phone, and a phone's screen holds
    the page without scrolling sideways (screenshots of both kept)."""
    context, page = await signed_in(spend, chromium, viewport=LAPTOP)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path in PAGES:
        name = path.rsplit("/", 1)[1]
        await page.set_viewport_size(LAPTOP)
        response = await page.goto(path)
        assert response is not None
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp
        assert "script-src 'self'" in csp
        await page.wait_for_load_state("networkidle")
        markup = Markup()
        markup.feed(await page.content())
        assert (markup.inline_scripts, markup.inline_handlers, markup.style_elements) == (0, [], 0), path
        for viewport, label in ((LAPTOP, "laptop"), (PHONE, "phone")):
            await page.set_viewport_size(viewport)
            await page.evaluate(axe_source)
            result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            serious = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == [], f"{path} {label}"
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone"
        await screenshot(page, f"{name}-phone")
    assert violations == []
    await context.close()
