"""`artifact.published` leaves the registry through its outbox: an upload is stored even while
JetStream cannot take the event, which the relay sends later, once; a team's purge removes its rows."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS

from mno.stack import NatsServer
from services.registry import store
from shared.bus.client import Bus
from shared.bus.context import CORRELATION_HEADER, MESSAGE_ID_HEADER, MessageContext
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings
from shared.db.outbox import Outbox
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.mesh import CanaryEvent
from shared.messages.permissions import Permission
from shared.messages.registry import ARTIFACT_PUBLISHED, CANARY
from tests.fixtures.mesh import MeshLauncher
from tests.fixtures.teams import org_team_key
from tests.registry.pypackages import minimal_wheel, twine_upload

STREAM = JetStreamSettings().events_stream


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[Any]:
    pool = await create_pool(fresh_database, min_size=1, max_size=2, command_timeout=10)
    try:
        yield pool
    finally:
        await pool.close()


async def _published(nc: NATS, message_id: str) -> list[dict[str, str]]:
    """The headers of each copy of `message_id` the events stream holds."""
    js = nc.jetstream()
    state = (await js.stream_info(STREAM)).state
    copies = []
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        try:
            msg = await js.get_msg(STREAM, seq)
        except nats.js.errors.NotFoundError:
            continue
        if (
            msg.subject == ARTIFACT_PUBLISHED.subject
            and (msg.headers or {}).get(MESSAGE_ID_HEADER) == message_id
        ):
            copies.append(dict(msg.headers or {}))
    return copies


def _metric(metrics_url: str, line_start: str) -> float | None:
    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return None


async def test_an_upload_is_stored_while_jetstream_cannot_take_its_event_which_is_relayed_once(
    launcher: MeshLauncher, isolated_nats: NatsServer, pool: Any, tmp_path: Path
) -> None:
    """With the events stream gone, twine's upload still succeeds and its event waits in the outbox;
    once the stream is back the relay publishes it exactly once, with the upload's correlation id."""
    agents = {a: launcher.start(a) for a in (AgentName.ARTIFACT_MANAGER, AgentName.SUPER_AGENT)}
    async with pool.acquire() as conn:
        key = await org_team_key(conn, [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH])
        team_id = str(
            await conn.fetchval(
                "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", key.split("_")[1]
            )
        )
    filename, content = minimal_wheel("outbox-demo", "1.0")
    wheel = tmp_path / filename
    wheel.write_bytes(content)
    nc = await nats.connect(isolated_nats.url)
    try:
        await nc.jetstream().delete_stream(STREAM)
        result = twine_upload(launcher.edge_url, team_id, key, [wheel])
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM artifact_manager.files WHERE team_id = $1::uuid", team_id
            )
            == 1
        )
        # The send after the commit runs beside the answer to twine: its failure is recorded soon after.
        deadline = time.monotonic() + 10
        while True:
            row = await pool.fetchrow(
                "SELECT message_id, published_at, attempts, headers FROM artifact_manager.outbox "
                "WHERE team_id = $1::uuid",
                team_id,
            )
            assert row is not None
            if row["attempts"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert (row["published_at"], row["attempts"]) == (None, 1)

        await ensure_streams(nc.jetstream(), JetStreamSettings())
        deadline = time.monotonic() + 30
        while (
            await pool.fetchval(
                "SELECT published_at FROM artifact_manager.outbox WHERE message_id = $1", row["message_id"]
            )
            is None
        ):
            assert time.monotonic() < deadline, "the relay did not publish the pending event"
            await asyncio.sleep(0.2)
        copies = await _published(nc, row["message_id"])
        assert len(copies) == 1
        assert copies[0][CORRELATION_HEADER] == row["headers"][CORRELATION_HEADER]
        metrics_url = agents[AgentName.ARTIFACT_MANAGER].metrics_url
        assert _metric(metrics_url, 'mno_outbox_sent_total{agent="artifact_manager",path="relay"}') == 1
        assert (
            _metric(metrics_url, 'mno_outbox_send_errors_total{agent="artifact_manager",path="commit"}') == 1
        )
        # A second relay round (the job keeps running) sends nothing more.
        await asyncio.sleep(5)
        assert len(await _published(nc, row["message_id"])) == 1
    finally:
        await nc.close()


async def test_purging_a_team_removes_its_outbox_rows_sent_or_not(migrated_pool: asyncpg.Pool) -> None:
    """store.purge_teams deletes the purged team's outbox rows and leaves another team's."""
    purged, kept = str(uuid.uuid4()), str(uuid.uuid4())
    # Never connected: encoding an event needs no server, and nothing here is sent.
    bus = Bus(NATS(), source="test", request_timeout=1)
    outbox = Outbox(migrated_pool, bus, agent="test", schema="artifact_manager")
    async with migrated_pool.acquire() as conn, conn.transaction():
        for team_id, canary_id in ((purged, "a"), (purged, "b"), (kept, "c")):
            outgoing = bus.encode_event(
                CANARY, CanaryEvent(canary_id=canary_id), MessageContext(), message_id=uuid.uuid4().hex
            )
            await outbox.add(conn, outgoing, team_id=team_id)
    # The purged team's first event was sent, its second was not.
    await migrated_pool.execute(
        "UPDATE artifact_manager.outbox SET published_at = now() "
        "WHERE id = (SELECT min(id) FROM artifact_manager.outbox)"
    )
    async with migrated_pool.acquire() as conn, conn.transaction():
        assert await store.purge_teams(conn, [purged]) == 2
    teams = await migrated_pool.fetch("SELECT team_id::text FROM artifact_manager.outbox")
    assert [r["team_id"] for r in teams] == [kept]
