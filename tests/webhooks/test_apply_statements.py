"""Applying a webhook delivery costs few round trips to PostgreSQL (issue 13: webhook intake
regression), and the fewer statements keep what the many did: one claim per queue message, the
delivery's outcome recorded, a redelivered message applied once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from services.identity.installations import register_installation_handlers
from services.webhooks import deliveries
from services.webhooks.processing import WebhookDispatcher, WebhookProcessor
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.db.postgres import register_json_codecs
from shared.messages.github import WebhookReceived


def _incoming(installation: int, repositories: list[dict[str, Any]]) -> deliveries.IncomingDelivery:
    payload = {
        "action": "added",
        "installation": {
            "id": installation,
            "account": {"login": "octo-org", "id": 9001, "type": "Organization"},
        },
        "repositories_added": repositories,
        "repositories_removed": [],
    }
    body = json.dumps(payload).encode()
    return deliveries.IncomingDelivery(
        endpoint="app",
        hook_id="1",
        guid=str(uuid.uuid4()),
        event="installation_repositories",
        action="added",
        target_type=None,
        target_id=None,
        body=body,
        payload=payload,
        document_sha256=uuid.uuid4().bytes * 2,
    )


async def _apply(processor: WebhookProcessor, recorded: deliveries.Recorded, guid: str) -> bool:
    message = WebhookReceived(
        delivery_id=recorded.delivery_id,
        endpoint="app",
        hook_id="1",
        guid=guid,
        event="installation_repositories",
        action="added",
        attempt=recorded.attempt,
    )
    delivery = Delivery(
        message_id=f"gh:{recorded.delivery_id}:{recorded.attempt}",
        consumer="super_agent--github-webhook_received",
        attempt=1,
        stream_sequence=1,
    )
    return await processor.handle(message, MessageContext(), delivery)


async def test_a_delivery_for_a_known_installation_is_applied_in_nine_round_trips(
    migrated_pool: asyncpg.Pool, fresh_database: str
) -> None:
    """An `installation_repositories` delivery of an installation seen before, adding repositories:
    BEGIN, claim + load, status, account + its default team, installation, repositories (one
    statement, not one per repository), outcome, COMMIT, and the pool's reset on release: 9 (it was
    11, the repositories pipelined one by one); the redelivered queue message changes nothing."""
    statements: list[str] = []

    async def init(conn: asyncpg.Connection) -> None:
        await register_json_codecs(conn)
        conn.add_query_logger(lambda record: statements.append(record.query.split()[0].upper()))

    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=1, init=init)
    try:
        dispatcher = WebhookDispatcher()
        register_installation_handlers(dispatcher)
        processor = WebhookProcessor(pool, dispatcher)
        repos = [{"id": n, "full_name": f"octo-org/r{n}", "private": False} for n in (1, 2)]
        first = _incoming(77, repos)
        async with pool.acquire() as conn:
            recorded = await deliveries.record(conn, first)
        assert await _apply(processor, recorded, first.guid)  # the installation and account are new

        second = _incoming(77, [*repos, {"id": 3, "full_name": "octo-org/r3", "private": True}])
        async with pool.acquire() as conn:
            recorded = await deliveries.record(conn, second)
        statements.clear()
        assert await _apply(processor, recorded, second.guid)
        assert len(statements) == 9, statements
        statements.clear()
        assert not await _apply(processor, recorded, second.guid)  # the same queue message again
        assert len(statements) <= 5, statements
    finally:
        await pool.close()
    rows = await migrated_pool.fetch(
        "SELECT repository_id, private FROM super_agent.installation_repositories WHERE installation_id = 77 "
        "ORDER BY repository_id"
    )
    assert [(r["repository_id"], r["private"]) for r in rows] == [(1, False), (2, False), (3, True)]
    status = await migrated_pool.fetchval(
        "SELECT status FROM super_agent.webhook_deliveries WHERE id = $1", recorded.delivery_id
    )
    assert status == "processed"
    claims = await migrated_pool.fetchval(
        "SELECT count(*) FROM super_agent.processed_messages WHERE message_id = $1",
        f"gh:{recorded.delivery_id}:{recorded.attempt}",
    )
    assert claims == 1
