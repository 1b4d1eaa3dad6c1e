"""The Account page's GitHub link in Debian's chromium: installations with their repositories and the
webhook delivery ledger of a GitHub account linked by real signed deliveries, paged, equal to
`GET /api/v1/github/...`; another account's never shown; a viewer reads it with no write control."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Browser

from services.dashboard.account import DELIVERIES_SHOWN
from services.identity import sessions
from shared.messages.agents import AgentName
from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, PHONE, Stage, screenshot
from tests.dashboard.test_browser import SERIOUS as SERIOUS  # re-exported: page tests import it here
from tests.dashboard.test_browser import write_controls
from tests.fixtures import github_link as gh
from tests.fixtures.mesh import Mesh, deep_merge
from tests.fixtures.stack import free_port

ACCOUNT_PAGE = "/dashboard/account"


@dataclass(frozen=True)
class Linked:
    installation: int
    team_id: str
    owner: str  # session tokens of people of the account's default team
    viewer: str
    other_login: str  # another GitHub account's login, never to be shown


async def session_in(pool: asyncpg.Pool, team_id: str, role: Role) -> str:
    async with pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO super_agent.users (login, name) VALUES ($1, $1) RETURNING id::text",
            f"gh-{role.value}-{uuid.uuid4().hex[:8]}",
        )
        await conn.execute(
            "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1::uuid, $2::uuid, $3)",
            team_id,
            user_id,
            role.value,
        )
        token: str = await sessions.create(conn, user_id, ttl=timedelta(hours=1), ip=None, user_agent="test")
    return token


@pytest.fixture(scope="module")
async def webhook_edge(mesh: Mesh) -> AsyncIterator[str]:
    """A second edge replica of the session's mesh that accepts signed webhooks (the first has no
    webhook secret); deliveries it records are applied by the mesh's consumers like any other."""
    launcher = mesh.launcher
    port = free_port()
    plain = launcher.overrides
    launcher.overrides = deep_merge(plain, {"github": gh.WEBHOOK_SECRETS})
    try:
        replica = await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT, http_port=port)
    finally:
        launcher.overrides = plain
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(replica.stop)


@pytest.fixture(scope="module")
async def linked(webhook_edge: str, pool: asyncpg.Pool) -> Linked:
    """A GitHub organisation with the App installed on three repositories (one added later), more
    deliveries than a page holds (pushes, a rejected payload), and another organisation beside it."""
    suffix = uuid.uuid4().hex[:6]
    base_id = 700_000 + int(suffix, 16) % 100_000
    org, other = gh.org(base_id, f"acme-{suffix}"), gh.org(base_id + 1, f"rival-{suffix}")
    installation, other_installation = base_id * 10, base_id * 10 + 1
    guids = [
        await gh.send(
            webhook_edge,
            gh.installation_created(installation, org, gh.repos(org, "api", "web", first_id=base_id * 100)),
            "installation",
        ),
        await gh.send(
            webhook_edge,
            gh.installation_created(
                other_installation, other, gh.repos(other, "hidden", first_id=base_id * 100 + 50)
            ),
            "installation",
        ),
    ]
    await gh.settled(pool, guids)
    guids.append(
        await gh.send(
            webhook_edge,
            gh.repositories_added(installation, org, gh.repos(org, "infra", first_id=base_id * 100 + 10)),
            "installation_repositories",
        )
    )
    # An installation event without its account: GitHub would never send it, we reject it (failed).
    guids.append(
        await gh.send(
            webhook_edge, {"action": "created", "installation": {"id": installation}}, "installation"
        )
    )
    for n in range(DELIVERIES_SHOWN):
        guids.append(
            await gh.send(
                webhook_edge, {"ref": f"refs/heads/b{n}", "installation": {"id": installation}}, "push"
            )
        )
    await gh.settled(pool, guids)
    team_id = await pool.fetchval(
        "SELECT t.id::text FROM super_agent.teams t JOIN super_agent.accounts a ON a.id = t.account_id "
        "WHERE a.github_id = $1 AND t.is_default",
        org["id"],
    )
    return Linked(
        installation,
        team_id,
        await session_in(pool, team_id, Role.OWNER),
        await session_in(pool, team_id, Role.VIEWER),
        other["login"],
    )


async def api(stage: Stage, token: str, team_id: str, path: str, **params: Any) -> Any:
    """GET an API route as the person of `token` (their session cookie), in `team_id`."""
    headers = {"Cookie": f"mno_session={token}", "X-MNO-Team": team_id}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{stage.edge}{path}", headers=headers, params={k: str(v) for k, v in params.items()}) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


async def test_the_account_page_shows_the_github_link_of_the_api(
    stage: Stage, linked: Linked, chromium: Browser
) -> None:
    """The installation and its three repositories, and the ledger's first page then its older one,
    are what GET /api/v1/github/... answer; the failed delivery names the operator's reprocessing;
    the other organisation appears nowhere."""
    context = await stage.context(chromium, linked.owner, viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(ACCOUNT_PAGE)
    article = page.locator(f'article[data-installation-id="{linked.installation}"]')
    assert await article.get_attribute("data-status") == "active"
    repos = await api(
        stage,
        linked.owner,
        linked.team_id,
        f"/api/v1/github/installations/{linked.installation}/repositories",
    )
    shown = await article.locator("li[data-repository]").evaluate_all(
        "els => els.map(e => e.dataset.repository)"
    )
    assert shown == [r["full_name"] for r in repos["repositories"]]
    assert len(shown) == 3

    first = await api(
        stage, linked.owner, linked.team_id, "/api/v1/github/deliveries", limit=DELIVERIES_SHOWN
    )
    rows = page.locator("#github-deliveries tbody tr")
    ids = await rows.evaluate_all("els => els.map(e => Number(e.dataset.deliveryId))")
    assert ids == [d["id"] for d in first["deliveries"]]
    content = await page.content()
    assert linked.other_login not in content
    await screenshot(page, "account-github")

    await page.click("#deliveries-older")
    await page.wait_for_url(f"**{ACCOUNT_PAGE}?before={first['next_before']}*")
    older = await api(
        stage,
        linked.owner,
        linked.team_id,
        "/api/v1/github/deliveries",
        before=first["next_before"],
        limit=DELIVERIES_SHOWN,
    )
    ids = await page.locator("#github-deliveries tbody tr").evaluate_all(
        "els => els.map(e => Number(e.dataset.deliveryId))"
    )
    assert ids == [d["id"] for d in older["deliveries"]]
    everything = first["deliveries"] + older["deliveries"]
    assert {d["event"] for d in everything} == {"installation", "installation_repositories", "push"}
    # Sent before the pushes, so on the older page: the one failed delivery.
    failed = page.locator('#github-deliveries tr[data-status="failed"]')
    assert "mno operator reprocess" in await failed.inner_text()
    await context.close()


async def test_a_viewer_reads_the_github_link_with_no_write_and_no_serious_axe_finding(
    stage: Stage, linked: Linked, chromium: Browser, axe_source: str
) -> None:
    """A viewer (no usage:read) gets the Account page with the installation and the ledger but no plan
    panel and no write control; axe-core finds nothing serious or critical on a laptop and a phone,
    and the phone does not scroll sideways."""
    context = await stage.context(chromium, linked.viewer, viewport=LAPTOP)
    page = await context.new_page()
    await page.goto(ACCOUNT_PAGE)
    assert page.url.endswith(ACCOUNT_PAGE)
    assert await page.locator(f'article[data-installation-id="{linked.installation}"] li').count() == 3
    assert await page.locator("#github-deliveries tbody tr").count() == DELIVERIES_SHOWN
    assert await page.locator("#plan-name").count() == 0, "a viewer may not read the plan's usage"
    assert write_controls(await page.content()) == []
    await screenshot(page, "account-github-viewer")
    for viewport in (LAPTOP, PHONE):
        await page.set_viewport_size(viewport)
        await page.evaluate(axe_source)
        assert await page.evaluate(SERIOUS) == [], viewport
    assert await page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    await screenshot(page, "account-github-phone")
    await context.close()
