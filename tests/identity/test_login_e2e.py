"""Sign-in with GitHub through the real edge against the stand-in GitHub: OAuth + PKCE, sessions,
CSRF, logout, and the App's setup URL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import pytest

from services.webhooks.signature import sign
from shared.messages.agents import AgentName
from tests.fixtures.fake_github import FakeGitHub
from tests.fixtures.mesh import MeshLauncher

KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class Browser:
    """A client that keeps cookies by hand (aiohttp's jar would not send Secure cookies over http)."""

    http: aiohttp.ClientSession
    base: str
    cookies: dict[str, str]

    async def get(self, url: str, **headers: str) -> aiohttp.ClientResponse:
        return await self._send("GET", url, headers)

    async def post(self, url: str, json: Any = None, **headers: str) -> aiohttp.ClientResponse:
        return await self._send("POST", url, headers, json)

    async def _send(
        self, method: str, url: str, headers: dict[str, str], json: Any = None
    ) -> aiohttp.ClientResponse:
        target = url if url.startswith("http") else f"{self.base}{url}"
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if cookie and target.startswith(self.base):
            sent["Cookie"] = cookie
        response = await self.http.request(method, target, json=json, headers=sent, allow_redirects=False)
        await response.read()
        for header in response.headers.getall("Set-Cookie", []):
            parsed = SimpleCookie(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response


@pytest.fixture
async def edge(
    launcher: MeshLauncher, fake_github: FakeGitHub
) -> AsyncIterator[tuple[MeshLauncher, FakeGitHub]]:
    launcher.overrides = {
        "github": {
            "enabled": True,
            "app_id": fake_github.app_id,
            "client_id": fake_github.client_id,
            "client_secret": fake_github.client_secret,
            "private_keys": [fake_github.private_key_pem],
            "webhook_secrets": ["whs"],
            "api_url": fake_github.url,
            "web_url": fake_github.url,
        },
        "auth": {"encryption_keys": [KEY]},
    }
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    return launcher, fake_github


@pytest.fixture
async def browser(edge: tuple[MeshLauncher, FakeGitHub]) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as http:
        yield Browser(http, edge[0].edge_url, {})


async def sign_in(
    browser: Browser, fake: FakeGitHub, login: str, return_to: str = "/"
) -> aiohttp.ClientResponse:
    started = await browser.get(f"/auth/github/login?return_to={return_to}")
    assert started.status == 302
    await browser.get(started.headers["Location"])  # the browser shows GitHub's consent page
    return await browser.get(fake.approve(login))


async def test_sign_in_sets_a_hardened_session_cookie(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """Login → GitHub → callback gives an HttpOnly, Secure, SameSite=Lax session and the user's record."""
    launcher, fake = edge
    fake.add_user("octocat", user_id=583231, name="The Octocat")
    done = await sign_in(browser, fake, "octocat", "/dashboard")
    assert done.status == 302
    assert done.headers["Location"] == "/dashboard"
    cookie = next(h for h in done.headers.getall("Set-Cookie") if h.startswith("mno_session="))
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    session = await browser.get("/api/v1/session")
    assert session.status == 200
    body = await session.json()
    assert body["user"]["login"] == "octocat"
    assert len(body["csrf_token"]) == 64
    conn = await asyncpg.connect(launcher.postgres_dsn)
    try:
        row = await conn.fetchrow("SELECT * FROM super_agent.user_github_tokens")
        stored = await conn.fetchval("SELECT count(*) FROM super_agent.user_sessions")
    finally:
        await conn.close()
    assert b"ghu_" not in bytes(row["access_ciphertext"])
    assert stored == 1


async def test_authorize_request_uses_pkce_s256_and_a_single_use_state(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """The authorize URL carries state and an S256 challenge; replaying the callback is refused."""
    _, fake = edge
    started = await browser.get("/auth/github/login")
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["client_id"] == [fake.client_id]
    await browser.get(started.headers["Location"])
    callback = fake.approve("octocat")
    assert (await browser.get(callback)).status == 302
    replay = await browser.get(callback)
    assert replay.status == 400
    assert "already used" in (await replay.json())["error"]["message"]


async def test_callback_in_another_browser_is_refused(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """A callback without the binding cookie of the browser that started the sign-in is a 403."""
    _, fake = edge
    started = await browser.get("/auth/github/login")
    await browser.get(started.headers["Location"])
    callback = fake.approve("mallory")
    browser.cookies.clear()
    response = await browser.get(callback)
    assert response.status == 403
    assert "another browser" in (await response.json())["error"]["message"]


async def test_denied_sign_in_is_401(browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]) -> None:
    """When the user cancels on GitHub, the callback answers 401 and sets no session."""
    _, fake = edge
    started = await browser.get("/auth/github/login")
    await browser.get(started.headers["Location"])
    response = await browser.get(fake.deny())
    assert response.status == 401
    assert "mno_session" not in browser.cookies


async def test_return_to_cannot_leave_the_site(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """An absolute or protocol-relative return_to lands on / instead (no open redirect)."""
    _, fake = edge
    for target in ("https://evil.example/", "//evil.example/x"):
        done = await sign_in(browser, fake, "octocat", target)
        assert done.headers["Location"] == "/"


async def test_session_id_changes_at_login_and_the_old_one_dies(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """Signing in again issues a new session id and revokes the one the browser had."""
    _, fake = edge
    await sign_in(browser, fake, "octocat")
    first = browser.cookies["mno_session"]
    await sign_in(browser, fake, "octocat")
    second = browser.cookies["mno_session"]
    assert first != second
    browser.cookies["mno_session"] = first
    assert (await browser.get("/api/v1/session")).status == 401


async def test_logout_needs_csrf_and_revokes(browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]) -> None:
    """Logout without the CSRF token is a 403; with it the session is revoked and the cookie cleared."""
    _, fake = edge
    await sign_in(browser, fake, "octocat")
    token = browser.cookies["mno_session"]
    csrf = (await (await browser.get("/api/v1/session")).json())["csrf_token"]
    assert (await browser.post("/auth/logout")).status == 403
    out = await browser.post("/auth/logout", X_CSRF_Token=csrf)
    assert out.status == 204
    assert "mno_session" not in browser.cookies
    browser.cookies["mno_session"] = token
    assert (await browser.get("/api/v1/session")).status == 401


async def test_setup_url_links_only_installations_github_confirms(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """The setup URL redirects to sign-in first; a forged installation id is a 404; a real one links
    the account, whose owner can then use the team with the CSRF token."""
    _, fake = edge
    user = fake.add_user("octocat", user_id=583231)
    installation = fake.add_installation("octocat", account_id=user.id, account_type="User")
    fake.grant_installation("octocat", installation.id)
    first = await browser.get(f"/auth/github/setup?installation_id={installation.id}&setup_action=install")
    assert first.status == 302
    assert first.headers["Location"].startswith("/auth/github/login?return_to=")
    await sign_in(browser, fake, "octocat")
    forged = await browser.get("/auth/github/setup?installation_id=999999&setup_action=install")
    assert forged.status == 404
    linked = await browser.get(f"/auth/github/setup?installation_id={installation.id}&setup_action=install")
    assert linked.status == 200
    assert (await linked.json())["account"] == "octocat"
    session = await (await browser.get("/api/v1/session")).json()
    assert [(t["account"], t["role"]) for t in session["teams"]] == [("octocat", "owner")]
    body = {"name": "from the browser", "permissions": ["mesh:read"]}
    assert (await browser.post("/api/v1/apikeys", body)).status == 403
    created = await browser.post("/api/v1/apikeys", body, X_CSRF_Token=session["csrf_token"])
    assert created.status == 201


async def test_expiring_user_token_is_refreshed_once_and_rotated(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """A near-expiry user token is refreshed once for concurrent requests, and the refresh token rotates."""
    _, fake = edge
    fake.user_token_lifetime = 60  # inside our refresh margin: every use needs a fresh token
    user = fake.add_user("octocat", user_id=583231)
    installation = fake.add_installation("octocat", account_id=user.id, account_type="User")
    fake.grant_installation("octocat", installation.id)
    await sign_in(browser, fake, "octocat")
    fake.user_token_lifetime = 3600
    url = f"/auth/github/setup?installation_id={installation.id}"
    answers = await asyncio.gather(browser.get(url), browser.get(url), browser.get(url))
    assert [a.status for a in answers] == [200, 200, 200]
    refreshes = [
        r
        for r in fake.requests_to("POST", "/login/oauth/access_token")
        if r.form.get("grant_type") == "refresh_token"
    ]
    assert len(refreshes) == 1


async def test_revoked_app_authorization_ends_sessions_and_forgets_tokens(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """github_app_authorization.revoked for a signed-in user ends their sessions and drops their tokens."""
    launcher, fake = edge
    fake.add_user("octocat", user_id=583231)
    await sign_in(browser, fake, "octocat")
    body = json.dumps(
        {"action": "revoked", "sender": {"login": "octocat", "id": 583231, "type": "User"}}
    ).encode()
    delivered = await browser.http.post(
        f"{launcher.edge_url}/webhooks/github",
        data=body,
        headers={
            "X-GitHub-Event": "github_app_authorization",
            "X-GitHub-Delivery": "a1b2c3",
            "X-Hub-Signature-256": sign(body, "whs"),
            "Content-Type": "application/json",
        },
    )
    assert delivered.status == 202
    for _ in range(100):
        if (await browser.get("/api/v1/session")).status == 401:
            break
        await asyncio.sleep(0.05)
    assert (await browser.get("/api/v1/session")).status == 401
    conn = await asyncpg.connect(launcher.postgres_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM super_agent.user_github_tokens") == 0
    finally:
        await conn.close()


async def test_forged_and_expired_sessions_are_401(
    browser: Browser, edge: tuple[MeshLauncher, FakeGitHub]
) -> None:
    """A made-up session cookie and a session past its expiry both get 401."""
    launcher, fake = edge
    browser.cookies["mno_session"] = "forged-" + "x" * 40
    assert (await browser.get("/api/v1/session")).status == 401
    await sign_in(browser, fake, "octocat")
    assert (await browser.get("/api/v1/session")).status == 200
    conn = await asyncpg.connect(launcher.postgres_dsn)
    try:
        await conn.execute("UPDATE super_agent.user_sessions SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    assert (await browser.get("/api/v1/session")).status == 401
    assert (await browser.get("/api/v1/apikeys")).status == 401
