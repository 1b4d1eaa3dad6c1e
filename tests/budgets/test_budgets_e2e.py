"""Budgets through the real edge (two replicas) and MonitoringAgent: hard limits never overshoot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from tests.fixtures.edge import knows_budgets
from tests.fixtures.mesh import MeshLauncher
from tests.fixtures.stack import free_port
from tests.ingest.test_token_events_e2e import costs_when, event

# gpt-4o: 1,000 input x $2.50 + 100 output x $10 per MTok = $0.0035 a call.
CALL = Decimal("0.0035")


@pytest.fixture
async def mesh2(launcher: MeshLauncher) -> AsyncIterator[tuple[list[str], str]]:
    """Two edge replicas and one MonitoringAgent; the local owner's API key."""
    second = free_port()
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.SUPER_AGENT, http_port=second)
    launcher.start(AgentName.MONITORING)
    pool: asyncpg.Pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield [launcher.edge_url, f"http://127.0.0.1:{second}"], await ensure_local_admin(pool)
    finally:
        await pool.close()


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> tuple[int, Any, Any]:
    async with http.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json(), response.headers


async def test_a_hard_limit_takes_exactly_its_amount_through_two_replicas(
    mesh2: tuple[list[str], str], launcher: MeshLauncher
) -> None:
    """60 calls at once through two edges against room for 20: 20 accepted, 40 refused with 429."""
    edges, token = mesh2
    async with aiohttp.ClientSession() as http:
        status, budget, _ = await call(
            http,
            "POST",
            f"{edges[0]}/api/v1/budgets",
            token,
            {"name": "cap", "amount_usd": str(CALL * 20), "period": "month", "hard_limit": True},
        )
        assert status == 201, budget
        # The replica the budget was not made through learns of it from the agent's notice.
        await knows_budgets([a for a in launcher.started if a.agent is AgentName.SUPER_AGENT][1])
        results = await asyncio.gather(
            *(
                call(http, "POST", f"{edges[i % 2]}/api/v1/token-events", token, {"events": [event(f"c{i}")]})
                for i in range(60)
            )
        )
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 20
        assert statuses.count(429) == 40
        refused = next(body for status, body, _ in results if status == 429)
        headers = next(headers for status, _, headers in results if status == 429)
        assert refused["error"]["code"] == "rate_limited"
        assert refused["error"]["details"][0]["budget_id"] == budget["id"]
        assert int(headers["Retry-After"]) > 0
        status, state, _ = await call(http, "GET", f"{edges[1]}/api/v1/budgets/{budget['id']}", token)
        assert Decimal(state["spent_usd"]) == CALL * 20
        assert state["exhausted"] is True
    report = await costs_when(launcher, token, 20)
    assert Decimal(report["totals"]["cost_usd"]) == CALL * 20


async def test_a_batch_partly_over_budget_is_accepted_in_part(mesh2: tuple[list[str], str]) -> None:
    """Room for 3 of 5: 200 with the 2 refused named by index and id; a resend of the 3 (alone, or
    with a new event) is answered as duplicates by id and not charged again."""
    edges, token = mesh2
    async with aiohttp.ClientSession() as http:
        await call(
            http,
            "POST",
            f"{edges[0]}/api/v1/budgets",
            token,
            {"name": "small", "amount_usd": str(CALL * 3), "hard_limit": True, "period": "day"},
        )
        batch = {"events": [event(f"p{i}") for i in range(5)]}
        status, result, _ = await call(http, "POST", f"{edges[0]}/api/v1/token-events", token, batch)
        assert status == 200
        assert result["accepted"] == 3
        assert [(e["index"], e["id"]) for e in result["errors"]] == [(3, "p3"), (4, "p4")]
        assert result["errors"][0]["errors"][0]["type"] == "budget_exceeded"
        status, again, _ = await call(
            http, "POST", f"{edges[0]}/api/v1/token-events", token, {"events": batch["events"][:3]}
        )
        assert (status, again["accepted"], again["duplicates"]) == (200, 0, 3), again
        assert again["duplicate_ids"] == ["p0", "p1", "p2"]
        # Another grouping (a new JetStream message): the budgets still know the counted ids.
        regrouped = {"events": [event("p1"), event("p-new", input_tokens=0, output_tokens=0)]}
        status, mixed, _ = await call(http, "POST", f"{edges[1]}/api/v1/token-events", token, regrouped)
        assert status == 200, mixed
        assert (mixed["accepted"], mixed["ids"], mixed["duplicate_ids"]) == (1, ["p-new"], ["p1"])
        status, refused, _ = await call(
            http, "POST", f"{edges[0]}/api/v1/token-events", token, {"events": batch["events"][3:]}
        )
        assert status == 429
        assert [(d["index"], d["id"]) for d in refused["error"]["details"]] == [(0, "p3"), (1, "p4")]
        status, listed, _ = await call(http, "GET", f"{edges[0]}/api/v1/budgets", token)
        assert Decimal(listed["budgets"][0]["spent_usd"]) == CALL * 3


async def test_budget_writes_are_validated_and_audited(mesh2: tuple[list[str], str]) -> None:
    """Bad input is a 422 naming the field; create, change and delete each leave an audit entry."""
    edges, token = mesh2
    async with aiohttp.ClientSession() as http:
        status, body, _ = await call(
            http, "POST", f"{edges[0]}/api/v1/budgets", token, {"name": "x", "amount_usd": "-1"}
        )
        assert status == 422
        assert body["error"]["details"][0]["loc"] == "amount_usd"
        status, body, _ = await call(
            http,
            "POST",
            f"{edges[0]}/api/v1/budgets",
            token,
            {"name": "x", "amount_usd": "5", "scope": "project"},
        )
        assert status == 422
        status, created, _ = await call(
            http,
            "POST",
            f"{edges[0]}/api/v1/budgets",
            token,
            {"name": "proj", "amount_usd": "5", "scope": "project", "scope_value": "search"},
        )
        assert status == 201
        status, taken, _ = await call(
            http, "POST", f"{edges[0]}/api/v1/budgets", token, {"name": "proj", "amount_usd": "5"}
        )
        assert (status, taken["error"]["code"]) == (409, "conflict")
        path = f"{edges[0]}/api/v1/budgets/{created['id']}"
        status, changed, _ = await call(http, "PATCH", path, token, {"amount_usd": "7.5"})
        assert (status, Decimal(changed["amount_usd"])) == (200, Decimal("7.5"))
        status, with_outlook, _ = await call(http, "GET", path, token)
        assert (status, with_outlook["forecast"] is not None) == (200, True)
        status, without, _ = await call(http, "GET", f"{path}?forecast=false", token)
        assert (status, without["forecast"]) == (200, None)
        status, _, _ = await call(http, "DELETE", path, token)
        assert status == 200
        status, _, _ = await call(http, "GET", path, token)
        assert status == 404
        status, audit, _ = await call(http, "GET", f"{edges[0]}/api/v1/audit?resource=budget", token)
        assert status == 200, audit
        actions = [entry["action"] for entry in audit["entries"]]
        assert {"budgets.create", "budgets.update", "budgets.delete"} <= set(actions)


async def test_a_budget_made_mid_period_starts_from_the_spend_so_far(
    mesh2: tuple[list[str], str], launcher: MeshLauncher
) -> None:
    """Three calls stored before the budget exists are already in its spend, and a fourth of a model
    without a price in its unpriced count."""
    edges, token = mesh2
    async with aiohttp.ClientSession() as http:
        batch = {
            "events": [*(event(f"m{i}") for i in range(3)), event("m3", provider="acme", model="acme-1")]
        }
        status, _, _ = await call(http, "POST", f"{edges[0]}/api/v1/token-events", token, batch)
        assert status == 200
        await costs_when(launcher, token, 4)
        status, budget, _ = await call(
            http, "POST", f"{edges[0]}/api/v1/budgets", token, {"name": "late", "amount_usd": "1"}
        )
        assert status == 201
        assert (Decimal(budget["spent_usd"]), budget["unpriced_events"]) == (CALL * 3, 1)


async def test_hard_limits_refuse_unpriced_models_by_default_and_the_team_is_alerted_once(
    mesh2: tuple[list[str], str], launcher: MeshLauncher
) -> None:
    """A call of a model with no price is refused by a hard limit (by index and id in a 200; 422 when
    alone) though the budget has room; set to `allow`, it is admitted and counted as unpriced in the
    budget and the cost report; the team gets one `unpriced_model` alert for the model."""
    edges, token = mesh2
    unknown = {"provider": "acme", "model": "acme-9"}
    async with aiohttp.ClientSession() as http:
        status, budget, _ = await call(
            http,
            "POST",
            f"{edges[0]}/api/v1/budgets",
            token,
            {"name": "cap", "amount_usd": "5", "hard_limit": True},
        )
        assert (status, budget["unpriced"]) == (201, "refuse"), budget
        batch = {"events": [event("k0"), event("k1", **unknown)]}
        status, result, _ = await call(http, "POST", f"{edges[0]}/api/v1/token-events", token, batch)
        assert (status, result["accepted"], result["ids"]) == (200, 1, ["k0"]), result
        [refusal] = result["errors"]
        assert (refusal["index"], refusal["id"], refusal["errors"][0]["type"]) == (1, "k1", "unpriced_model")
        assert refusal["errors"][0]["retry_after_seconds"] is None
        alone = {"events": [event("k2", **unknown)]}
        status, body, headers = await call(http, "POST", f"{edges[0]}/api/v1/token-events", token, alone)
        assert (status, body["error"]["details"][0]["type"]) == (422, "unpriced_model"), body
        assert "Retry-After" not in headers

        path = f"{edges[0]}/api/v1/budgets/{budget['id']}"
        status, changed, _ = await call(http, "PATCH", path, token, {"unpriced": "allow"})
        assert (status, changed["unpriced"]) == (200, "allow"), changed
        status, result, _ = await call(http, "POST", f"{edges[0]}/api/v1/token-events", token, alone)
        assert (status, result["accepted"]) == (200, 1), result
        status, state, _ = await call(http, "GET", f"{path}?forecast=false", token)
        assert (state["unpriced_events"], Decimal(state["spent_usd"])) == (1, CALL)

    report = await costs_when(launcher, token, 2, group_by="model")
    groups = {group["key"]["model"]: group["totals"] for group in report["groups"]}
    assert (groups["acme-9"]["unpriced_events"], groups["gpt-4o"]["unpriced_events"]) == (1, 0)
    assert report["totals"]["unpriced_events"] == 1

    pool = await asyncpg.connect(launcher.postgres_dsn)
    try:
        for _ in range(50):
            alerts = await pool.fetch("SELECT kind, dedup_key, details FROM monitoring.alerts")
            if alerts:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a second alert (from the consumer's sighting) would be here by now
        alerts = await pool.fetch("SELECT kind, dedup_key FROM monitoring.alerts")
    finally:
        await pool.close()
    assert [(a["kind"], a["dedup_key"]) for a in alerts] == [("unpriced_model", "unpriced_model:acme/acme-9")]
