"""Durable events survive a crashed consumer; replicas share work; bad config stops start-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import nats

from services.gateway.discovery import gather_replies
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.agents import AgentName
from shared.messages.mesh import CanaryEvent, CanaryStatusRequest, PingRequest
from shared.messages.registry import CANARY, CANARY_STATUS, PING
from tests.fixtures.mesh import REPO, MeshLauncher

AGENT = AgentName.LEARNING


async def test_killed_consumer_loses_nothing_and_repeats_nothing(launcher: MeshLauncher) -> None:
    """Kill -9 an agent mid-stream: a restarted replica gets every unacked event; each applied once."""
    launcher.overrides = {
        "jetstream": {"ack_wait_seconds": 2},
        "agents": {AGENT.value: {"max_concurrency": 4}},
    }
    first = launcher.start(AGENT)
    nc = await nats.connect(launcher.nats_url)
    bus = Bus(nc, source="test", request_timeout=5)
    prefix = uuid.uuid4().hex[:8]
    canaries = [f"k-{prefix}-{i}" for i in range(40)]
    try:
        for canary_id in canaries:
            await bus.publish(CANARY, CanaryEvent(canary_id=canary_id, work_ms=150), MessageContext())

        async def processed() -> list[bool]:
            statuses = [
                await bus.request(CANARY_STATUS[AGENT], CanaryStatusRequest(canary_id=c), MessageContext())
                for c in canaries
            ]
            return [s.processed for s in statuses]

        # Wait until some, not all, are done, then crash the consumer in the middle of the stream.
        deadline = time.monotonic() + 20
        while sum(await processed()) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first.kill()
        done_at_kill = sum(await _processed_from_db(launcher, canaries))
        assert 0 < done_at_kill < len(canaries), "the kill did not land mid-stream"

        launcher.start(AGENT)
        deadline = time.monotonic() + 60
        while not all(await processed()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        statuses = [
            await bus.request(CANARY_STATUS[AGENT], CanaryStatusRequest(canary_id=c), MessageContext())
            for c in canaries
        ]
    finally:
        await nc.close()
    assert all(s.processed for s in statuses), "an event was lost"
    redelivered = [s for s in statuses if (s.deliveries or 0) > 1]
    assert redelivered, "no event was redelivered, so the crash proved nothing"
    rows = await _receipt_counts(launcher, canaries)
    assert set(rows.values()) == {1}, "an event was applied twice"


async def _processed_from_db(launcher: MeshLauncher, canaries: list[str]) -> list[bool]:
    counts = await _receipt_counts(launcher, canaries)
    return [counts.get(c, 0) > 0 for c in canaries]


async def _receipt_counts(launcher: MeshLauncher, canaries: list[str]) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(launcher.postgres_dsn)
    try:
        rows = await conn.fetch(
            f"SELECT canary_id, count(*) AS n FROM {AGENT.value}.canary_receipts "
            "WHERE canary_id = ANY($1::text[]) GROUP BY canary_id",
            canaries,
        )
    finally:
        await conn.close()
    return {row["canary_id"]: row["n"] for row in rows}


async def test_two_replicas_share_requests_and_both_show_in_srv_info(launcher: MeshLauncher) -> None:
    """Two replicas of one agent split requests through the queue group and both answer $SRV.INFO."""
    one = launcher.start(AGENT, wait=False)
    two = launcher.start(AGENT, wait=False)
    one.wait_ready()
    two.wait_ready()
    nc = await nats.connect(launcher.nats_url)
    bus = Bus(nc, source="test", request_timeout=5)
    try:
        served = [
            (await bus.request(PING[AGENT], PingRequest(), MessageContext())).instance_id for _ in range(200)
        ]
        replies = await gather_replies(nc, f"$SRV.INFO.{AGENT.service_name}", quiet=0.3, deadline=3)
    finally:
        await nc.close()
    counts = {instance: served.count(instance) for instance in set(served)}
    assert len(counts) == 2, counts
    assert min(counts.values()) >= 40, f"the load was not shared: {counts}"
    instance_ids = {reply["metadata"]["instance_id"] for reply in replies}
    assert instance_ids == set(counts)


def test_bad_config_key_stops_start_up_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A misspelled key in the YAML stops the agent at once, with a message naming the key."""
    config = tmp_path / "bad.yaml"
    config.write_text("nats:\n  servers: [nats://127.0.0.1:1]\n  request_timeout_secnds: 3\n")
    result = _run_agent_with(config, {})
    assert result.returncode == 2
    assert "nats.request_timeout_secnds" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_secret_stops_start_up_naming_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A `${VAR}` with no value and no default names both the key and the variable."""
    config = tmp_path / "secret.yaml"
    config.write_text("github:\n  enabled: true\n  webhook_secrets: ['${MNO_TEST_UNSET_WEBHOOK_SECRET}']\n")
    result = _run_agent_with(config, {})
    assert result.returncode == 2
    assert "github.webhook_secrets[0]" in result.stderr
    assert "MNO_TEST_UNSET_WEBHOOK_SECRET" in result.stderr


def _run_agent_with(config, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    env.update({"MNO_CONFIG": str(config), **extra_env})
    return subprocess.run(
        [sys.executable, "-m", "agents.learning"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_sigterm_finishes_in_flight_work_then_exits_cleanly(launcher: MeshLauncher) -> None:
    """SIGTERM during a slow event: the agent finishes and acks it, then exits 0; nothing is redone."""
    agent = launcher.start(AGENT)
    nc = await nats.connect(launcher.nats_url)
    bus = Bus(nc, source="test", request_timeout=5)
    canary_id = f"term-{uuid.uuid4().hex[:8]}"
    try:
        await bus.publish(CANARY, CanaryEvent(canary_id=canary_id, work_ms=1500), MessageContext())
        # Wait until the consumer holds the event unacked (its 1.5 s of work under way), then stop it.
        deadline = time.monotonic() + 10
        while not await _fetched(launcher):
            assert time.monotonic() < deadline, "the agent never fetched the event"
            await asyncio.sleep(0.05)
        exit_code = agent.stop()
        counts = await _receipt_counts(launcher, [canary_id])
    finally:
        await nc.close()
    assert exit_code == 0
    assert counts == {canary_id: 1}, "the in-flight event was not finished before exit"
    assert any(r.get("event") == "agent stopped" for r in agent.records())


async def _fetched(launcher: MeshLauncher) -> bool:
    nc = await nats.connect(launcher.nats_url)
    try:
        info = await nc.jetstream().consumer_info("MNO_EVENTS", f"{AGENT.value}--mesh-canary")
    finally:
        await nc.close()
    return info.num_ack_pending > 0
