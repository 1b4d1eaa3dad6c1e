"""1-hour cache writes and canonical model names through the real edge, JetStream, MonitoringAgent and
ClickHouse, and back through `GET /api/v1/costs`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from tests.fixtures.edge import call
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import costs_when, event


@pytest.fixture
async def pool(launcher: MeshLauncher) -> AsyncIterator[asyncpg.Pool]:
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield db
    finally:
        await db.close()


async def test_one_hour_writes_and_model_names_through_the_mesh(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """The JSON API takes cache_write_1h_tokens and costs them at the 1-hour rate; /costs groups dated
    snapshots under the canonical model and keeps the reported name under group_by=model_raw."""
    admin = await ensure_local_admin(pool)
    sonnet = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-20250514",
        "input_tokens": 0,
        "output_tokens": 0,
    }
    batch = [
        event("w1", **sonnet, cache_write_1h_tokens=100_000),
        event("m1", model="gpt-4o-mini", input_tokens=1_000_000, output_tokens=0),
        event("m2", model="gpt-4o-mini-2024-07-18", input_tokens=1_000_000, output_tokens=0),
    ]
    status, result = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": batch})
    assert status == 200, result
    assert result["accepted"] == 3, result

    report = await costs_when(launcher, admin, 3, group_by="model")
    groups = {g["key"]["model"]: g["totals"] for g in report["groups"]}
    assert set(groups) == {"claude-sonnet-4-0", "gpt-4o-mini"}
    assert groups["claude-sonnet-4-0"]["cache_write_1h_tokens"] == 100_000
    assert Decimal(groups["claude-sonnet-4-0"]["cost_usd"]) == Decimal("0.6")  # $6 per MTok, not $3.75
    assert (groups["gpt-4o-mini"]["events"], Decimal(groups["gpt-4o-mini"]["cost_usd"])) == (
        2,
        Decimal("0.3"),
    )

    raw = await costs_when(launcher, admin, 3, group_by="model_raw")
    assert {g["key"]["model_raw"]: g["totals"]["events"] for g in raw["groups"]} == {
        "claude-sonnet-4-20250514": 1,
        "gpt-4o-mini": 1,
        "gpt-4o-mini-2024-07-18": 1,
    }
    filtered = await costs_when(launcher, admin, 1, model_raw="gpt-4o-mini-2024-07-18")
    assert filtered["totals"]["events"] == 1
