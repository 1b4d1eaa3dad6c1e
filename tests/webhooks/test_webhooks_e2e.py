"""GitHub webhooks through the real edge: verify, record, 202, then applied once through JetStream."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.webhooks.signature import sign
from shared.messages.agents import AgentName
from tests.fixtures.mesh import MeshLauncher

APP_SECRET, OLD_APP_SECRET, MARKETPLACE_SECRET = "app-secret-2", "app-secret-1", "marketplace-secret"


@pytest.fixture
def edge(launcher: MeshLauncher) -> MeshLauncher:
    launcher.overrides = {
        "github": {
            "webhook_secrets": [APP_SECRET, OLD_APP_SECRET],
            "marketplace_webhook_secrets": [MARKETPLACE_SECRET],
        },
        "jetstream": {"backoff_seconds": [0.2, 0.5, 1.0], "max_deliver": 4},
    }
    launcher.start(AgentName.SUPER_AGENT)
    return launcher


@pytest.fixture
async def db(edge: MeshLauncher) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(edge.postgres_dsn)
    try:
        yield conn
    finally:
        await conn.close()


def installation_payload(action: str = "created", installation_id: int = 4242) -> dict[str, Any]:
    return {
        "action": action,
        "installation": {
            "id": installation_id,
            "account": {"login": "octo-org", "id": 9001, "type": "Organization"},
            "repository_selection": "selected",
            "target_type": "Organization",
            "permissions": {"metadata": "read", "contents": "read"},
            "events": ["push", "pull_request"],
        },
        "repositories": [
            {"id": 1, "name": "a", "full_name": "octo-org/a", "private": False},
            {"id": 2, "name": "b", "full_name": "octo-org/b", "private": True},
        ],
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }


async def deliver(
    edge: MeshLauncher,
    payload: dict[str, Any] | bytes,
    *,
    event: str = "installation",
    guid: str | None = None,
    secret: str = APP_SECRET,
    path: str = "/webhooks/github",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123",
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        **(headers or {}),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{edge.edge_url}{path}", data=body, headers=sent) as r,
    ):
        return r.status, await r.json()


async def delivery_row(db: asyncpg.Connection, guid: str, *, settled: bool = True) -> asyncpg.Record:
    deadline = time.monotonic() + 15
    while True:
        row = await db.fetchrow("SELECT * FROM super_agent.webhook_deliveries WHERE guid = $1", guid)
        if row is not None and (not settled or row["status"] != "received"):
            return row
        assert time.monotonic() < deadline, f"delivery {guid} not settled: {row and row['status']}"
        await asyncio.sleep(0.05)


async def test_installation_created_is_applied(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """A signed installation.created gets 202, then makes the account, default team, installation, repos."""
    guid = str(uuid.uuid4())
    status, body = await deliver(edge, installation_payload(), guid=guid)
    assert status == 202
    assert body["status"] == "queued"
    row = await delivery_row(db, guid)
    assert row["status"] == "processed"
    account = await db.fetchrow("SELECT * FROM super_agent.accounts WHERE github_id = 9001")
    assert account["login"] == "octo-org"
    assert account["kind"] == "Organization"
    team = await db.fetchrow("SELECT * FROM super_agent.teams WHERE account_id = $1", account["id"])
    assert team["is_default"]
    assert team["slug"] == "octo-org"
    installation = await db.fetchrow("SELECT * FROM super_agent.installations WHERE github_id = 4242")
    assert installation["status"] == "active"
    repos = await db.fetch(
        "SELECT full_name FROM super_agent.installation_repositories ORDER BY repository_id"
    )
    assert [r["full_name"] for r in repos] == ["octo-org/a", "octo-org/b"]


async def test_redelivered_guid_is_not_applied_twice(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """GitHub's redelivery (same GUID) after success answers 202 duplicate and changes nothing."""
    guid = str(uuid.uuid4())
    await deliver(edge, installation_payload(), guid=guid)
    first = await delivery_row(db, guid)
    status, body = await deliver(edge, installation_payload(), guid=guid)
    assert status == 202
    assert body["status"] == "duplicate"
    await asyncio.sleep(0.5)
    again = await delivery_row(db, guid)
    assert again["processed_at"] == first["processed_at"]
    assert again["redeliveries"] == 1
    assert again["attempt"] == 1


async def test_failed_delivery_can_be_reprocessed(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """A delivery whose processing failed is marked failed; GitHub's redelivery of it is applied."""
    await db.execute(
        "ALTER TABLE super_agent.installation_repositories RENAME TO installation_repositories_x"
    )
    guid = str(uuid.uuid4())
    try:
        await deliver(edge, installation_payload(installation_id=77), guid=guid)
        failed = await delivery_row(db, guid)
    finally:
        await db.execute(
            "ALTER TABLE super_agent.installation_repositories_x RENAME TO installation_repositories"
        )
    assert failed["status"] == "failed"
    assert "installation_repositories" in failed["last_error"]
    status, body = await deliver(edge, installation_payload(installation_id=77), guid=guid)
    assert (status, body["status"]) == (202, "requeued")
    deadline = time.monotonic() + 15
    while (row := await delivery_row(db, guid))["status"] != "processed":
        assert time.monotonic() < deadline, row["status"]
        await asyncio.sleep(0.05)
    assert row["attempt"] == 2
    count = await db.fetchval(
        "SELECT count(*) FROM super_agent.installation_repositories WHERE installation_id = 77"
    )
    assert count == 2


async def test_previous_secret_is_accepted_during_rotation(edge: MeshLauncher) -> None:
    """A delivery signed with the previous app secret is still accepted."""
    status, _ = await deliver(edge, installation_payload(), secret=OLD_APP_SECRET)
    assert status == 202


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Hub-Signature-256": ""}, "missing"),
        ({"X-Hub-Signature-256": "", "X-Hub-Signature": "sha1=" + "0" * 40}, "SHA-1"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "does not match"),
    ],
)
async def test_bad_signatures_are_401(edge: MeshLauncher, headers: dict[str, str], message: str) -> None:
    """Missing, SHA-1-only and wrong signatures get 401 with a message saying which."""
    status, body = await deliver(edge, installation_payload(), headers=headers)
    assert status == 401
    assert body["error"]["code"] == "unauthenticated"
    assert message in body["error"]["message"]


async def test_marketplace_endpoint_has_its_own_secret(edge: MeshLauncher) -> None:
    """The app secret does not open the Marketplace endpoint, and the Marketplace secret does."""
    payload = {"action": "purchased"}
    status, _ = await deliver(edge, payload, event="ping", path="/webhooks/github/marketplace")
    assert status == 401
    status, _ = await deliver(
        edge, payload, event="ping", path="/webhooks/github/marketplace", secret=MARKETPLACE_SECRET
    )
    assert status == 202


async def test_signed_garbage_and_missing_headers_are_400(edge: MeshLauncher) -> None:
    """A correctly signed body that is not a JSON object, or no event header, is a 400, not a 500."""
    for body in (b"{not json", b"[1]"):
        status, response = await deliver(edge, body)
        assert status == 400, response
    status, response = await deliver(edge, installation_payload(), headers={"X-GitHub-Event": ""})
    assert status == 400
    assert "X-GitHub-Event" in response["error"]["message"]


async def test_payload_that_cannot_apply_is_failed_without_endless_retries(
    edge: MeshLauncher, db: asyncpg.Connection
) -> None:
    """An installation event missing its account is recorded failed with the reason, once."""
    guid = str(uuid.uuid4())
    status, _ = await deliver(edge, {"action": "created", "installation": {"id": 5}}, guid=guid)
    assert status == 202
    row = await delivery_row(db, guid)
    assert row["status"] == "failed"
    assert row["outcome"] == "payload rejected"
    assert "account" in row["last_error"]


async def test_unknown_events_are_recorded_as_ignored(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """An event we have no handler for is kept and marked ignored, with the reason."""
    guid = str(uuid.uuid4())
    await deliver(edge, {"action": "opened"}, event="issues", guid=guid)
    row = await delivery_row(db, guid)
    assert row["status"] == "ignored"
    assert "no handler" in row["outcome"]


async def test_oversize_webhook_is_413(edge: MeshLauncher) -> None:
    """A body over GitHub's 25 MB cap is refused with 413 before it is read."""
    body = b'{"a": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    status, response = await deliver(edge, body)
    assert status == 413
    assert response["error"]["code"] == "payload_too_large"


async def test_uninstall_marks_deleted_and_drops_cached_tokens(
    edge: MeshLauncher, db: asyncpg.Connection
) -> None:
    """installation.deleted marks the installation deleted, drops its repositories and cached tokens."""
    created = str(uuid.uuid4())
    await deliver(edge, installation_payload(installation_id=31), guid=created)
    await delivery_row(db, created)
    await db.execute(
        "INSERT INTO super_agent.installation_tokens (installation_id, scope_key, ciphertext, expires_at) "
        "VALUES (31, 'all', '\\x00'::bytea, now() + interval '1 hour')"
    )
    deleted = str(uuid.uuid4())
    await deliver(edge, installation_payload("deleted", installation_id=31), guid=deleted)
    assert (await delivery_row(db, deleted))["status"] == "processed"
    assert await db.fetchval("SELECT status FROM super_agent.installations WHERE github_id = 31") == "deleted"
    assert (
        await db.fetchval("SELECT count(*) FROM super_agent.installation_tokens WHERE installation_id = 31")
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM super_agent.installation_repositories WHERE installation_id = 31"
        )
        == 0
    )


async def test_suspend_and_unsuspend(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """installation.suspend and .unsuspend move the installation between suspended and active."""
    for action, expected in (("created", "active"), ("suspend", "suspended"), ("unsuspend", "active")):
        guid = str(uuid.uuid4())
        await deliver(edge, installation_payload(action, installation_id=32), guid=guid)
        assert (await delivery_row(db, guid))["status"] == "processed"
        assert (
            await db.fetchval("SELECT status FROM super_agent.installations WHERE github_id = 32") == expected
        )
