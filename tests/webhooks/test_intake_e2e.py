"""Webhook intake through the real edge: form-encoded bodies, GUID dedupe without the hook id,
replayed bodies under fresh GUIDs, and the bound on unverified bytes held before the signature."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.webhooks.intake import UNSIGNED_BYTES_IN_FLIGHT
from shared.messages.agents import AgentName
from tests.fixtures.mesh import MeshLauncher
from tests.marketplace.factories import BASIC, ORG, payload, purchase
from tests.webhooks.test_webhooks_e2e import (
    APP_SECRET,
    MARKETPLACE_SECRET,
    deliver,
    delivery_row,
    installation_payload,
)

PLAN = {
    "monthly_token_events": 1000,
    "artifact_storage_bytes": 1000,
    "prompts": 1,
    "experiments": 1,
    "seats": 20,
    "features": ["dashboard"],
}


@pytest.fixture
def edge(launcher: MeshLauncher) -> MeshLauncher:
    launcher.overrides = {
        "github": {"webhook_secrets": [APP_SECRET], "marketplace_webhook_secrets": [MARKETPLACE_SECRET]},
        "plans": {"free": PLAN, "team": PLAN},
        "accounts": {"marketplace_plans": {str(BASIC["id"]): "team"}, "default_plan": "free"},
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


async def refused(edge: MeshLauncher, reason: str) -> float:
    """The edge's mno_webhook_refused_total for `reason`."""
    async with aiohttp.ClientSession() as http, http.get(f"{edge.edge_url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mno_webhook_refused_total" and sample.labels == {"reason": reason}:
                return sample.value
    return 0.0


async def test_form_encoded_delivery_is_applied(edge: MeshLauncher, db: asyncpg.Connection) -> None:
    """A `payload=<json>` form body signed as sent is accepted (202) and applied like JSON."""
    document = json.dumps(installation_payload(installation_id=51))
    body = urllib.parse.urlencode({"payload": document}).encode()
    guid = str(uuid.uuid4())
    status, answer = await deliver(
        edge, body, guid=guid, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, answer["status"]) == (202, "queued"), answer
    row = await delivery_row(db, guid)
    assert row["status"] == "processed"
    assert bytes(row["body"]) == body
    assert await db.fetchval("SELECT status FROM super_agent.installations WHERE github_id = 51") == "active"


async def test_guid_is_one_delivery_with_or_without_the_hook_id(
    edge: MeshLauncher, db: asyncpg.Connection
) -> None:
    """The same GUID sent without (or with another) X-GitHub-Hook-ID is a duplicate, not a new delivery."""
    guid = str(uuid.uuid4())
    await deliver(edge, installation_payload(installation_id=52), guid=guid)
    await delivery_row(db, guid)
    for hook in ("", "999"):
        status, answer = await deliver(
            edge, installation_payload(installation_id=52), guid=guid, headers={"X-GitHub-Hook-ID": hook}
        )
        assert (status, answer["status"]) == (202, "duplicate"), answer
    assert await db.fetchval("SELECT count(*) FROM super_agent.webhook_deliveries WHERE guid = $1", guid) == 1
    assert (await delivery_row(db, guid))["attempt"] == 1


async def test_replayed_marketplace_body_under_a_new_guid_changes_nothing(
    edge: MeshLauncher, db: asyncpg.Connection
) -> None:
    """An old, correctly signed `purchased` resent under a fresh GUID after a 10-seat change is
    answered `replay`, stores no delivery, and leaves the subscription and its history as they were."""
    now = datetime.now(UTC)
    bought = json.dumps(
        payload("purchased", now - timedelta(minutes=2), purchase(BASIC, unit_count=1))
    ).encode()
    changed = payload(
        "changed",
        now - timedelta(minutes=1),
        purchase(BASIC, unit_count=10),
        previous=purchase(BASIC, unit_count=1),
    )
    path = "/webhooks/github/marketplace"
    first = str(uuid.uuid4())
    for body, guid in ((bought, first), (json.dumps(changed).encode(), str(uuid.uuid4()))):
        status, _ = await deliver(
            edge, body, event="marketplace_purchase", guid=guid, secret=MARKETPLACE_SECRET, path=path
        )
        assert status == 202
        assert (await delivery_row(db, guid))["status"] == "processed"
    before = await db.fetchrow(
        "SELECT state, plan_key, status FROM super_agent.subscriptions WHERE account_github_id = $1",
        ORG["id"],
    )
    history = await db.fetchval("SELECT count(*) FROM super_agent.subscription_history")
    deliveries = await db.fetchval("SELECT count(*) FROM super_agent.webhook_deliveries")

    replay_guid = str(uuid.uuid4())
    status, answer = await deliver(
        edge, bought, event="marketplace_purchase", guid=replay_guid, secret=MARKETPLACE_SECRET, path=path
    )
    assert (status, answer["status"]) == (202, "replay"), answer
    original = await delivery_row(db, first)
    assert answer["delivery_id"] == original["id"]
    assert (original["replays"], original["last_replay_guid"]) == (1, replay_guid)
    await asyncio.sleep(1.0)  # anything queued would have been applied by now
    assert await db.fetchval("SELECT count(*) FROM super_agent.webhook_deliveries") == deliveries
    assert await db.fetchval("SELECT count(*) FROM super_agent.subscription_history") == history
    after = await db.fetchrow(
        "SELECT state, plan_key, status FROM super_agent.subscriptions WHERE account_github_id = $1",
        ORG["id"],
    )
    assert after == before
    assert await refused(edge, "replay") == 1


async def _send_head(
    edge: MeshLauncher, body_length: int, body_start: bytes, signature: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a webhook request declaring `body_length` bytes and send only `body_start` of them."""
    url = urlsplit(edge.edge_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"POST /webhooks/github HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {body_length}\r\nX-GitHub-Event: ping\r\nX-GitHub-Delivery: {uuid.uuid4()}\r\n"
        f"X-Hub-Signature-256: {signature}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body_start)
    await writer.drain()
    return reader, writer


async def _status(reader: asyncio.StreamReader) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout=10)
    return int(line.split()[1])


async def test_unverified_bytes_in_flight_are_bounded(edge: MeshLauncher) -> None:
    """While an anonymous request holds a 25 MB unverified body open, another whose body would pass
    the edge's budget of unverified bytes gets 503 at once, unread; when the first ends, bodies fit
    again."""
    big = 25 * 1024 * 1024
    fake = "sha256=" + "0" * 64
    _, writer = await _send_head(edge, big, b"{", fake)
    await asyncio.sleep(0.3)
    second_size = UNSIGNED_BYTES_IN_FLIGHT - big + 1
    other_reader, other_writer = await _send_head(edge, second_size, b"", fake)
    try:
        assert await _status(other_reader) == 503
    finally:
        other_writer.close()
    assert await refused(edge, "unverified_budget") == 1
    writer.close()  # the first request's connection drops mid-body: its bytes are given back
    await asyncio.sleep(0.5)
    body = json.dumps({"zen": "x" * second_size}).encode()
    status, answer = await deliver(edge, body, event="ping")
    assert status == 202, answer
