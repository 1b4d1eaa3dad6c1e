"""Token events through the real edge, JetStream and MonitoringAgent into ClickHouse, and back as costs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures import teams
from tests.fixtures.edge import call
from tests.fixtures.mesh import MeshLauncher

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def pool(launcher: MeshLauncher) -> AsyncIterator[asyncpg.Pool]:
    plan = {"artifact_storage_bytes": 10**9, "prompts": 10, "experiments": 1, "seats": 3, "features": []}
    launcher.overrides = {
        "plans": {
            "free": {**plan, "monthly_token_events": 5},
            "local": {**plan, "monthly_token_events": 10**12},
        }
    }
    launcher.start(AgentName.SUPER_AGENT)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield db
    finally:
        await db.close()


def event(event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "timestamp": (NOW + timedelta(minutes=1)).isoformat(),
        "project": "search",
        "latency_ms": 120.5,
    }
    if event_id is not None:
        values["id"] = event_id
    values.update(fields)
    return values


async def costs_when(
    launcher: MeshLauncher, token: str, events: int, seconds: float = 30.0, **params: str
) -> dict[str, Any]:
    """The cost report once it counts `events` events (storing is asynchronous)."""
    query = {"since": (NOW - timedelta(hours=1)).isoformat(), "until": (NOW + timedelta(hours=2)).isoformat()}
    query.update(params)
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        status, report = await call(launcher, "GET", "/api/v1/costs", token, params=query)
        out_of_time = asyncio.get_running_loop().time() > deadline
        # 503: the MonitoringAgent is not serving yet (e.g. still reconnecting after a NATS restart).
        if status == 503 and not out_of_time:
            await asyncio.sleep(0.2)
            continue
        assert status == 200, report
        if report["totals"]["events"] >= events or out_of_time:
            return report
        await asyncio.sleep(0.2)


async def org_team_key(pool: asyncpg.Pool, permissions: list[Permission]) -> str:
    """A key of a team of a Marketplace-less organisation (the `free` plan: 5 events a month here)."""
    async with pool.acquire() as conn:
        return await teams.org_team_key(conn, permissions)


async def test_valid_events_are_accepted_priced_and_reported(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Invalid events are reported by index, valid ones end up in /costs with their exact price."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    batch = [event("a"), {"provider": "openai"}, event("b", input_tokens=-1), event(None, user="ana")]
    status, result = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": batch})
    assert status == 200, result
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert [e["index"] for e in result["errors"]] == [1, 2]
    assert result["errors"][1]["id"] == "b"
    assert result["errors"][1]["errors"][0]["loc"] == "input_tokens"
    assert result["ids"][0] == "a"
    assert len(result["ids"][1]) == 32
    report = await costs_when(launcher, admin, 2, group_by="project", bucket="hour")
    # gpt-4o: 1,000 x $2.50/MTok + 100 x $10/MTok = $0.0035 per call.
    assert Decimal(report["totals"]["cost_usd"]) == Decimal("0.007")
    assert report["groups"][0]["key"] == {"project": "search"}
    assert report["groups"][0]["series"][0]["events"] == 2
    assert report["totals"]["latency_p50_ms"] == pytest.approx(120.5)


async def test_events_accepted_while_the_monitoring_agent_is_down_are_not_lost(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Accepted means durable: a MonitoringAgent started later stores every accepted event."""
    admin = await ensure_local_admin(pool)
    status, result = await call(
        launcher, "POST", "/api/v1/token-events", admin, {"events": [event(f"d{i}") for i in range(300)]}
    )
    assert (status, result["accepted"]) == (200, 300)
    launcher.start(AgentName.MONITORING)
    report = await costs_when(launcher, admin, 300)
    assert report["totals"]["events"] == 300


async def test_resent_events_count_once_inside_and_beyond_the_duplicate_window(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """The same batch again and the same ids in another batch (both duplicates): each stored once."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    first = [event(f"r{i}") for i in range(10)]
    for body in ({"events": first}, {"events": first}, {"events": [*first[5:], event("r-new")]}):
        status, _ = await call(launcher, "POST", "/api/v1/token-events", admin, body)
        assert status == 200
    report = await costs_when(launcher, admin, 11)
    await asyncio.sleep(1.0)  # anything stored twice would show by now
    report = await costs_when(launcher, admin, 11)
    assert report["totals"]["events"] == 11


async def test_a_batch_with_no_valid_event_is_a_422_naming_each(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Nothing valid: 422 with the per-index reasons; more than 1,000 events: 422 too."""
    admin = await ensure_local_admin(pool)
    status, body = await call(
        launcher, "POST", "/api/v1/token-events", admin, {"events": [{"model": "x"}, {"provider": "p"}]}
    )
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    assert [d["index"] for d in body["error"]["details"]] == [0, 1]
    status, body = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": [event()] * 1001})
    assert status == 422
    status, body = await call(
        launcher, "POST", "/api/v1/token-events", admin, {"events": [event(timestamp="2026-01-01T00:00:00")]}
    )
    assert status == 422  # a timestamp without offset is ambiguous


async def test_the_monthly_token_event_limit_refuses_with_402_and_counts_nothing(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """The free plan (5 here): 4 accepted, then 2 more refused whole with the limit named, 1 still fits."""
    token = await org_team_key(pool, [Permission.TOKEN_EVENTS_WRITE, Permission.USAGE_READ])
    status, _ = await call(launcher, "POST", "/api/v1/token-events", token, {"events": [event()] * 4})
    assert status == 200
    status, body = await call(launcher, "POST", "/api/v1/token-events", token, {"events": [event()] * 2})
    assert status == 402
    assert body["error"]["code"] == "payment_required"
    detail = body["error"]["details"][0]
    assert (detail["limit"], detail["current"], detail["maximum"], detail["remaining"]) == (
        "monthly_token_events",
        4,
        5,
        1,
    )
    status, _ = await call(launcher, "POST", "/api/v1/token-events", token, {"events": [event()]})
    assert status == 200
    status, usage = await call(launcher, "GET", "/api/v1/usage", token)
    assert usage["usage"]["monthly_token_events"] == 5


async def test_concurrent_batches_never_overshoot_the_monthly_limit(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Ten single-event requests at once against a limit of 5: exactly five accepted."""
    token = await org_team_key(pool, [Permission.TOKEN_EVENTS_WRITE])
    statuses = await asyncio.gather(
        *(call(launcher, "POST", "/api/v1/token-events", token, {"events": [event()]}) for _ in range(10))
    )
    assert sorted(s for s, _ in statuses) == [200] * 5 + [402] * 5


async def test_a_team_never_sees_another_teams_costs(launcher: MeshLauncher, pool: asyncpg.Pool) -> None:
    """Team B's report is empty while team A's holds its events."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    other = await org_team_key(pool, [Permission.COSTS_READ])
    await call(launcher, "POST", "/api/v1/token-events", admin, {"events": [event("x1")]})
    assert (await costs_when(launcher, admin, 1))["totals"]["events"] == 1
    report = await costs_when(launcher, other, 1, seconds=0.5, group_by="model")
    assert report["totals"]["events"] == 0
    assert report["groups"] == []


async def test_numbers_sent_as_strings_or_booleans_are_refused_with_422(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """`"input_tokens": "1000"`, `true`, a latency as text and a Unix-number timestamp are each refused
    by index (422 when no event is left), never read as numbers."""
    admin = await ensure_local_admin(pool)
    bad = [
        event("s1", input_tokens="1000"),
        event("s2", output_tokens=True),
        event("s3", reasoning_tokens=12.0),
        event("s4", latency_ms="120"),
        event("s5", timestamp=int(NOW.timestamp())),
    ]
    status, body = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": bad})
    assert status == 422, body
    details = body["error"]["details"]
    assert [(d["index"], d["id"]) for d in details] == [(i, f"s{i + 1}") for i in range(5)]
    assert [d["errors"][0]["loc"] for d in details] == [
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "latency_ms",
        "timestamp",
    ]
    status, result = await call(
        launcher, "POST", "/api/v1/token-events", admin, {"events": [*bad, event("ok")]}
    )
    assert (status, result["accepted"], result["rejected"], result["ids"]) == (200, 1, 5, ["ok"])


async def test_a_resent_batch_is_answered_as_duplicates_and_not_counted_again(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """The same batch resent is answered `duplicates` with its ids, not `accepted`, and the plan's
    monthly count takes it once (other groupings: tests/ingest/test_duplicates.py)."""
    admin = await ensure_local_admin(pool)
    batch = {"events": [event(f"u{i}") for i in range(5)]}
    _, before = await call(launcher, "GET", "/api/v1/usage", admin)
    status, first = await call(launcher, "POST", "/api/v1/token-events", admin, batch)
    assert (status, first["accepted"], first["duplicates"], first["duplicate_ids"]) == (200, 5, 0, [])
    status, again = await call(launcher, "POST", "/api/v1/token-events", admin, batch)
    assert status == 200, again
    assert (again["accepted"], again["ids"], again["rejected"]) == (0, [], 0)
    assert (again["duplicates"], again["duplicate_ids"]) == (5, [f"u{i}" for i in range(5)])
    _, after = await call(launcher, "GET", "/api/v1/usage", admin)
    used = after["usage"]["monthly_token_events"] - before["usage"]["monthly_token_events"]
    assert used == 5


async def test_the_first_unpriced_call_of_a_model_alerts_the_team_once(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """A team without budgets sending calls of a model with no price in two batches gets one
    `unpriced_model` alert; the cost report counts the calls as unpriced per group and in total."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    unknown = {"provider": "acme", "model": "acme-7"}
    for batch in ([event("n1", **unknown), event("n2")], [event("n3", **unknown)]):
        status, result = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": batch})
        assert status == 200, result
    report = await costs_when(launcher, admin, 3, group_by="model")
    groups = {group["key"]["model"]: group["totals"] for group in report["groups"]}
    assert (groups["acme-7"]["unpriced_events"], groups["gpt-4o"]["unpriced_events"]) == (2, 0)
    assert report["totals"]["unpriced_events"] == 2
    rows: list[Any] = []
    for _ in range(50):
        rows = list(await pool.fetch("SELECT kind, dedup_key, team_id FROM monitoring.alerts"))
        if rows:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a second alert would be here by now
    rows = list(await pool.fetch("SELECT kind, dedup_key FROM monitoring.alerts"))
    assert [(r["kind"], r["dedup_key"]) for r in rows] == [("unpriced_model", "unpriced_model:acme/acme-7")]


async def test_a_valid_batch_of_large_events_is_accepted_and_stored(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Events at their size limits (20 tags of 256 characters) are accepted whole and stored, not a
    500 from a bus message over NATS' payload limit."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    tags = {f"tag{n:02d}-{'k' * 58}": "x" * 256 for n in range(20)}
    batch = [event(f"big-{i}", tags=tags, user="u" * 200) for i in range(400)]
    status, result = await call(launcher, "POST", "/api/v1/token-events", admin, {"events": batch})
    assert status == 200, result
    assert result["accepted"] == 400
    report = await costs_when(launcher, admin, 400, user="u" * 200)
    assert report["totals"]["events"] == 400
