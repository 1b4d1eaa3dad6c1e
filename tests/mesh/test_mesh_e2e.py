"""The whole mesh as separate processes: HTTP edge → NATS → agents → back."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from shared.messages.agents import ALL_AGENTS
from tests.fixtures.mesh import TOKEN, Mesh

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


async def test_mesh_lists_every_agent(mesh: Mesh) -> None:
    """GET /api/v1/mesh lists all five agents, discovered through $SRV.INFO, none missing."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mesh.edge_url}/api/v1/mesh", headers=AUTH) as response:
            assert response.status == 200
            body = await response.json()
    assert body["missing"] == []
    listed = {entry["agent"]: entry for entry in body["agents"]}
    assert set(listed) == {agent.value for agent in ALL_AGENTS}
    for agent in ALL_AGENTS:
        instance = listed[agent.value]["instances"][0]
        subjects = {endpoint["subject"] for endpoint in instance["endpoints"]}
        assert f"mno.rpc.{agent.value}.ping" in subjects


async def test_ping_round_trip_through_every_agent_carries_the_correlation_id(mesh: Mesh) -> None:
    """A ping via the edge reaches every agent, and each agent logs the caller's correlation id."""
    correlation_id = f"test-{uuid.uuid4().hex}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/ping",
            json={"echo": "hello"},
            headers={**AUTH, "X-Request-Id": correlation_id},
        ) as response:
            assert response.status == 200
            assert response.headers["X-Request-Id"] == correlation_id
            body = await response.json()
    assert {r["agent"] for r in body["results"]} == {a.value for a in ALL_AGENTS}
    assert all(r["ok"] for r in body["results"]), body
    for agent in ALL_AGENTS:
        # An agent logs "handled request" after it has sent its reply, so the line may land just after ours.
        async def handled_records(agent=agent):  # type: ignore[no-untyped-def]
            return [
                r
                for r in mesh.agents[agent].records()
                if r.get("correlation_id") == correlation_id and r.get("event") == "handled request"
            ]

        handled = await wait_for(handled_records, timeout=10.0)
        raw = mesh.agents[agent].log_path.read_text(errors="replace")
        assert handled, (
            f"{agent} has no log record with the correlation id (in its raw log: {correlation_id in raw}; "
            f"instances on the bus: {mesh.bus_instances()})"
        )
        assert handled[0]["endpoint"] == f"mno.rpc.{agent.value}.ping"


async def test_forwarded_route_answers_with_the_agents_reply(mesh: Mesh) -> None:
    """POST /api/v1/mesh/<agent>/ping is forwarded to that agent and returns its typed reply."""
    async with aiohttp.ClientSession() as http:
        for agent in ALL_AGENTS:
            async with http.post(
                f"{mesh.edge_url}/api/v1/mesh/{agent.value}/ping", json={"echo": agent.value}, headers=AUTH
            ) as response:
                assert response.status == 200
                body = await response.json()
            assert body["agent"] == agent.value
            assert body["echo"] == agent.value


async def test_canary_is_processed_once_by_every_agent(mesh: Mesh) -> None:
    """A canary published at the edge is consumed through JetStream by all five agents exactly once."""
    canary_id = f"c-{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/canaries", json={"canary_id": canary_id}, headers=AUTH
        ) as response:
            assert response.status == 202
            accepted = await response.json()
        assert accepted["duplicate"] is False
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/canaries", json={"canary_id": canary_id}, headers=AUTH
        ) as response:
            assert (await response.json())["duplicate"] is True

        async def report() -> dict | None:  # type: ignore[type-arg]
            async with http.get(f"{mesh.edge_url}/api/v1/mesh/canaries/{canary_id}", headers=AUTH) as r:
                body = await r.json()
            done = len(body["statuses"]) == len(ALL_AGENTS) and all(s["processed"] for s in body["statuses"])
            return body if done else None

        body = await wait_for(report)
    assert body is not None, "not every agent processed the canary"
    assert all(status["deliveries"] == 1 for status in body["statuses"])


async def test_every_agent_exports_handler_histograms(mesh: Mesh) -> None:
    """Each agent's /metrics parses with prometheus-client's parser: handler histograms, consumer lag,
    and its event loop's lag, sampled from the start."""
    async with aiohttp.ClientSession() as http:
        await http.post(f"{mesh.edge_url}/api/v1/mesh/ping", json={}, headers=AUTH)
        for agent in ALL_AGENTS:
            async with http.get(f"{mesh.agents[agent].metrics_url}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            families = {family.name: family for family in text_string_to_metric_families(text)}
            histogram = families["mno_rpc_handler_duration_seconds"]
            assert histogram.type == "histogram"
            buckets = [
                s
                for s in histogram.samples
                if s.name.endswith("_bucket") and s.labels.get("agent") == agent.value
            ]
            assert buckets, f"{agent} exports no handler buckets"
            assert "mno_agent_ready" in families
            lag = families["mno_jetstream_consumer_pending_messages"]
            assert any(sample.labels["consumer"] == f"{agent.value}--mesh-canary" for sample in lag.samples)
            loop_lag = families["mno_event_loop_lag_seconds"]
            counts = [
                s.value
                for s in loop_lag.samples
                if s.name.endswith("_count") and s.labels.get("agent") == agent.value
            ]
            assert len(counts) == 1, f"{agent} exports no event-loop lag"
            assert counts[0] > 0, f"{agent} samples no event-loop lag"
            full_collections = [
                s.value
                for s in families["mno_gc_pause_seconds"].samples
                if s.name.endswith("_count")
                and s.labels.get("agent") == agent.value
                and s.labels.get("generation") == "2"
            ]
            # The collection before start-up's objects are frozen is one, timed like any other.
            assert len(full_collections) == 1, f"{agent} exports no full-GC pauses"
            assert full_collections[0] >= 1, f"{agent} times no full GC"


async def test_agents_answer_livez_and_readyz(mesh: Mesh) -> None:
    """Every agent answers /livez and /readyz with its checks (bus, postgres) all true."""
    async with aiohttp.ClientSession() as http:
        for agent in ALL_AGENTS:
            async with http.get(f"{mesh.agents[agent].metrics_url}/readyz") as response:
                assert response.status == 200
                body = await response.json()
            assert body["checks"]["bus"] is True
            assert body["checks"]["postgres"] is True
            async with http.get(f"{mesh.agents[agent].metrics_url}/livez") as response:
                assert response.status == 200
