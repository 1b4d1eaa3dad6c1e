"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the session's mesh.

Chromium comes from apt (scripts/system-deps.sh), never from Playwright's own download. axe-core is
fetched from the npm registry with `npm pack` at a pinned version (its integrity checked) into
build/, and screenshots of every page are written to build/screenshots/ as test artifacts.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Request,
    Response,
    WebError,
    async_playwright,
)

from services.identity import apikeys, local_sign_in, sessions
from services.identity.bootstrap import LOCAL_ADMIN, ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.permissions import Role, permissions_of_roles
from tests.fixtures.edge import until
from tests.fixtures.mesh import Mesh

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
SCREENSHOTS = BUILD / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_VERSION = "4.14.1"
AXE_INTEGRITY = (
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
LAPTOP = {"width": 1366, "height": 820}
PHONE = {"width": 390, "height": 844}


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser build, from its npm package at a pinned version (integrity checked)."""
    target = BUILD / f"axe-core-{AXE_VERSION}"
    script = target / "axe.min.js"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch when several test workers start at once
        return _fetched(target, script)


def _fetched(target: Path, script: Path) -> str:
    if not script.exists():
        out = subprocess.run(
            ["npm", "pack", f"axe-core@{AXE_VERSION}", "--json", "--pack-destination", str(target)],
            check=True,
            capture_output=True,
            text=True,
            cwd=target,
        )
        tarball = target / json.loads(out.stdout)[0]["filename"]
        assert _sri(tarball.read_bytes()) == AXE_INTEGRITY, "axe-core's tarball is not the pinned one"
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.extractfile("package/axe.min.js")
            assert member is not None
            script.write_bytes(member.read())
    return script.read_text()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (make test does)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def chromium(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
async def pool(mesh: Mesh) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(mesh.launcher.postgres_dsn, min_size=1, max_size=4, command_timeout=30)
    try:
        yield created
    finally:
        await created.close()


@dataclass
class Team:
    id: str
    slug: str
    name: str
    key: str  # an owner's API key of the team


def _narrate(context: BrowserContext) -> None:
    """Print what the browser saw go wrong, and every write it sent: pytest shows a test's output
    only when it fails, so a wait that timed out comes with the answers that explain it."""

    def say(line: str) -> None:
        print(f"{datetime.now(UTC):%H:%M:%S.%f} {line}")

    async def on_response(response: Response) -> None:
        if response.status >= 400 or response.request.method != "GET":
            say(f"browser: {response.request.method} {response.url} -> {response.status}")
        if response.status >= 400:
            with contextlib.suppress(Exception):  # the page may be gone before its body is read
                say(f"  answer: {(await response.text())[:500]!r}")

    def on_failure(request: Request) -> None:
        say(f"browser: {request.method} {request.url} failed: {request.failure}")

    def on_console(message: ConsoleMessage) -> None:
        say(f"console {message.type}: {message.text} ({message.location.get('url', '')})")

    def on_error(error: WebError) -> None:
        say(f"page error: {error.error}")

    context.on("response", on_response)
    context.on("requestfailed", on_failure)
    context.on("console", on_console)
    context.on("weberror", on_error)


@dataclass
class Stage:
    """The local administrator of the mesh's database, with a team of this module's own."""

    edge: str
    pool: asyncpg.Pool
    admin_id: str
    team: Team

    async def sign_in_link(self) -> str:
        async with self.pool.acquire() as conn:
            token = await local_sign_in.create_link(conn)
        assert token is not None
        return local_sign_in.link_url(self.edge, token)

    async def member(self, role: Role) -> str:
        """A session token of a new user holding `role` in the stage's team (and no other team)."""
        async with self.pool.acquire() as conn:
            user_id = await conn.fetchval(
                "INSERT INTO super_agent.users (login, name) VALUES ($1, $1) RETURNING id::text",
                f"{role.value}-{uuid.uuid4().hex[:8]}",
            )
            await conn.execute(
                "INSERT INTO super_agent.team_members (team_id, user_id, role) "
                "VALUES ($1::uuid, $2::uuid, $3)",
                self.team.id,
                user_id,
                role.value,
            )
            token: str = await sessions.create(
                conn, user_id, ttl=timedelta(hours=1), ip=None, user_agent="test"
            )
        return token

    async def context(
        self, browser: Browser, session_token: str | None = None, **options: Any
    ) -> BrowserContext:
        context = await browser.new_context(base_url=self.edge, **options)
        _narrate(context)
        if session_token is not None:
            await context.add_cookies(
                [
                    {
                        "name": "mno_session",
                        "value": session_token,
                        "url": self.edge,
                        "secure": True,
                        "httpOnly": True,
                    }
                ]
            )
        return context

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, f"{self.edge}{path}", headers={"Authorization": f"Bearer {self.team.key}"}, **kwargs
            ) as response,
        ):
            return response.status, await response.json()


@pytest.fixture(scope="module")
async def stage(mesh: Mesh, pool: asyncpg.Pool) -> Stage:
    """The local admin (as `mno run` makes it) plus a second team of the local account, so the admin
    has two teams; spend seeded in the second through the API."""
    await ensure_local_admin(pool)
    slug = f"dash-{uuid.uuid4().hex[:6]}"
    async with pool.acquire() as conn:
        admin_id = await conn.fetchval(
            "SELECT id::text FROM super_agent.users WHERE login = $1 AND github_id IS NULL", LOCAL_ADMIN
        )
        account_id = await conn.fetchval(
            "SELECT account_id FROM super_agent.teams t JOIN super_agent.team_members m ON m.team_id = t.id "
            "WHERE m.user_id = $1::uuid AND t.slug = 'local'",
            admin_id,
        )
        team_id = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, $2, $3, false) RETURNING id::text",
            account_id,
            slug,
            f"Dashboard {slug}",
        )
        await conn.execute(
            "INSERT INTO super_agent.team_members (team_id, user_id, role) "
            "VALUES ($1::uuid, $2::uuid, 'owner')",
            team_id,
            admin_id,
        )
        _, key = await apikeys.create(
            conn,
            team_id=team_id,
            name="dashboard tests",
            permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
            created_by=admin_id,
        )
    return Stage(mesh.edge_url, pool, admin_id, Team(team_id, slug, f"Dashboard {slug}", str(key)))


@pytest.fixture(scope="module")
async def seeded(stage: Stage) -> Stage:
    """Token events of today in the stage's team, through POST /api/v1/token-events, stored."""
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "id": f"dash-{i}",
            "timestamp": now,
            "provider": "openai" if i % 2 else "anthropic",
            "model": "gpt-4o-mini" if i % 2 else "claude-3-5-haiku-20241022",
            "input_tokens": 1000 + 37 * i,
            "output_tokens": 200 + 11 * i,
            "project": "search",
        }
        for i in range(12)
    ]
    status, body = await stage.api("POST", "/api/v1/token-events", json={"events": events})
    assert status == 200, body
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def stored() -> bool:
        code, report = await stage.api(
            "GET",
            "/api/v1/costs",
            params={"since": today.isoformat(), "until": datetime.now(UTC).isoformat()},
        )
        return code == 200 and report["totals"]["events"] == len(events)

    assert await until(stored, 60), "the seeded events were not stored"
    return stage


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
