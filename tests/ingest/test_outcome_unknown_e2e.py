"""A NATS outage during ingest: the edge answers that the outcome is unknown (not a failure), the
events it could not confirm may be stored after all, and a resend with the same ids stores nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from mno.stack import NatsServer
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures import teams
from tests.fixtures.edge import call
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import costs_when, event

PLAN = {"artifact_storage_bytes": 10**9, "prompts": 10, "experiments": 1, "seats": 3, "features": []}


@pytest.fixture
async def pool(launcher: MeshLauncher) -> AsyncIterator[asyncpg.Pool]:
    launcher.overrides = {
        "plans": {
            "free": {**PLAN, "monthly_token_events": 1000},
            "local": {**PLAN, "monthly_token_events": 10**9},
        },
        "nats": {"request_timeout_seconds": 2.0},
    }
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield db
    finally:
        await db.close()


async def test_an_unconfirmed_publish_is_answered_outcome_unknown_and_a_resend_stores_once(
    launcher: MeshLauncher, pool: asyncpg.Pool, isolated_nats: NatsServer, tmp_path: Path
) -> None:
    """With nats-server down, a batch is answered 504 `outcome_unknown` saying a retry with the same
    ids is safe; once NATS is back the buffered events are stored anyway, and the resend with the
    same ids is stored once (the cost report counts each event once)."""
    async with pool.acquire() as conn:
        token = await teams.org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE, Permission.COSTS_READ])
    status, body = await call(launcher, "POST", "/api/v1/token-events", token, {"events": [event("warm-1")]})
    assert status == 200, body
    await costs_when(launcher, token, 1)

    isolated_nats.stop()
    batch = {"events": [event(f"outage-{n}") for n in range(3)]}
    status, body = await call(launcher, "POST", "/api/v1/token-events", token, batch)
    assert status == 504, body
    assert body["error"]["code"] == "outcome_unknown"
    assert "same ids" in body["error"]["message"]
    assert body["error"]["details"] == [{"index": n, "id": f"outage-{n}"} for n in range(3)]

    isolated_nats.start(tmp_path / "nats", port=isolated_nats.port, monitor_port=isolated_nats.monitor_port)
    # The answer was honest: the events sent while the bus was away were stored after all.
    report = await costs_when(launcher, token, 4, seconds=60)
    assert report["totals"]["events"] == 4, report

    status, body = await call(launcher, "POST", "/api/v1/token-events", token, batch)
    assert status == 200, body
    assert sorted(body["ids"] + body["duplicate_ids"]) == [f"outage-{n}" for n in range(3)]
    await asyncio.sleep(3)  # room for a second copy to be stored, were there one
    report = await costs_when(launcher, token, 4)
    assert report["totals"]["events"] == 4, report
