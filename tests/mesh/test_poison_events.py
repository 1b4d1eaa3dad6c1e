"""Poison events against the real mesh: refused at the edge, and dead-lettered once (not retried) by
every agent when one reaches the stream anyway."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import nats
import pytest
from nats.aio.client import Client as NATS

from mno.stack import NatsServer
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.events import DLQ_CONSUMER_HEADER, DLQ_DELIVERIES_HEADER, DLQ_REASON_HEADER
from shared.config.models import JetStreamSettings
from shared.messages.agents import ALL_AGENTS
from shared.messages.mesh import CanaryEvent
from shared.messages.registry import CANARY
from tests.fixtures.mesh import TOKEN, Mesh

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NATS]:
    connection = await nats.connect(nats_server.url)
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_canary_note_with_a_nul_is_refused_before_it_is_published(mesh: Mesh) -> None:
    """POST /api/v1/mesh/canaries with a NUL in the note is a 422 naming the field, not a 202."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/canaries",
            json={"canary_id": f"nul-{uuid.uuid4().hex[:8]}", "note": "a\u0000b"},
            headers=AUTH,
        ) as response:
            assert response.status == 422
            body = await response.json()
    assert body["error"]["code"] == "validation_failed"
    assert any(detail["loc"] == "note" for detail in body["error"]["details"]), body


async def test_a_poison_event_on_the_stream_is_dead_lettered_once_per_agent_with_its_reason(
    mesh: Mesh, nc: NATS
) -> None:
    """A canary whose note no agent can take (a NUL), published straight onto the stream, is
    dead-lettered at once by each agent's consumer, once, naming the field at fault; the canary
    behind it is processed by every agent."""
    poison_id = f"poison-{uuid.uuid4().hex[:10]}"
    behind_id = f"behind-{uuid.uuid4().hex[:10]}"
    settings = JetStreamSettings()
    js = nc.jetstream()
    dead = await js.subscribe(CANARY.dlq_subject, stream=settings.dlq_stream, ordered_consumer=True)
    bus = Bus(nc, source="test", request_timeout=5)
    # Built without validation, as a buggy or older publisher would send it.
    await bus.publish(
        CANARY,
        CanaryEvent.model_construct(canary_id=poison_id, work_ms=0, note="a\u0000b"),
        MessageContext(),
        message_id=f"canary:{poison_id}",
    )
    await bus.publish(CANARY, CanaryEvent(canary_id=behind_id), MessageContext())

    letters: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + 30
    while len(letters) < len(ALL_AGENTS) and time.monotonic() < deadline:
        try:
            letter = await dead.next_msg(timeout=1)
        except nats.errors.TimeoutError:
            continue
        if poison_id.encode() in letter.data:
            headers = letter.headers or {}
            assert headers[DLQ_CONSUMER_HEADER] not in letters, "a second dead letter for one consumer"
            letters[headers[DLQ_CONSUMER_HEADER]] = headers
    assert sorted(letters) == sorted(f"{agent.value}--mesh-canary" for agent in ALL_AGENTS)
    for headers in letters.values():
        assert headers[DLQ_DELIVERIES_HEADER] == "1"
        assert headers[DLQ_REASON_HEADER].startswith("invalid mesh.CanaryEvent: note: control characters"), (
            headers
        )

    async with aiohttp.ClientSession() as http:

        async def processed_by_all() -> bool:
            async with http.get(f"{mesh.edge_url}/api/v1/mesh/canaries/{behind_id}", headers=AUTH) as r:
                body = await r.json()
            return len(body["statuses"]) == len(ALL_AGENTS) and all(s["processed"] for s in body["statuses"])

        deadline = time.monotonic() + 20
        while not await processed_by_all():
            assert time.monotonic() < deadline, "the canary behind the poison was not processed by all"
            await asyncio.sleep(0.2)

    # The first backoff (1 s) has passed for every agent: none tried the poison a second time.
    await asyncio.sleep(2)
    for agent in ALL_AGENTS:
        handled = [
            r.get("event")
            for r in mesh.agents[agent].records()
            if r.get("message_id") == f"canary:{poison_id}" or r.get("canary_id") == poison_id
        ]
        assert handled == [], (agent, handled)
