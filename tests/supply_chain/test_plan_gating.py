"""The `supply_chain` plan feature gates the background work too, end to end (edge, registry and
supply chain as real processes): a team whose plan lacks it publishes and gets no SBOM, finding or
download block (the version waits, deferred); once its plan includes the feature the version gets its
SBOM, its finding and its block without being published again (the catch-up job, after the start-up
backfill has left it deferred). A team whose plan loses the feature has its blocks released by the
periodic block sync (`supply_chain.block_sync_interval_seconds`, short here), and regains them with
the feature."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shared.messages.agents import AgentName
from tests.registry.pypackages import upload_bytes
from tests.supply_chain.mesh_support import (
    REGISTRY_MESH,
    Env,
    Team,
    call,
    file_url,
    import_archive,
    osv_archive,
    start,
    team,
)
from tests.supply_chain.test_backfill import backfill_runs
from tests.supply_chain.test_download_policy import ADVISORY, _wheel

# The block sync's interval here (production: 300 s), and how long after a pass its announcement may
# take to reach a download (a JetStream event to the registry, whose notice drops the edge's cache).
BLOCK_SYNC_SECONDS = 3.0
ANNOUNCED_SECONDS = 15.0


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """Edge, registry and supply chain of the module's own, with a high advisory on acme-vuln < 2.0 and
    a block sync every few seconds."""
    async for running in start(
        tmp_path_factory.mktemp("plan-gating"),
        postgres_dsn,
        agents=REGISTRY_MESH,
        overrides={"supply_chain": {"block_sync_interval_seconds": BLOCK_SYNC_SECONDS}},
    ):
        info = await import_archive(running, osv_archive(ADVISORY), "plan-gating-test")
        assert info["status"] == "finished", info
        yield running


async def _set_plan(env: Env, who: Team, plan: str) -> None:
    """The team's account moved to `plan`, as a Marketplace change leaves the subscription row."""
    await env.pool.execute(
        "UPDATE super_agent.subscriptions SET plan_key = $2 WHERE account_id = "
        "(SELECT account_id FROM super_agent.teams WHERE id = $1::uuid)",
        who.team_id,
        plan,
    )


async def _download(who: Team, url: str) -> int:
    async with aiohttp.ClientSession(headers=who.headers) as http, http.get(url) as response:
        await response.read()
        return response.status


async def _until(check: Any, what: str, seconds: float = 120) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while not (found := await check()):
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.3)
    return found


async def test_a_plan_without_supply_chain_gets_nothing_until_it_gains_the_feature(env: Env) -> None:
    """On a plan without supply_chain a published vulnerable version gets no SBOM, no finding and no
    block (it is deferred; the routes answer the plan's 403); after the plan gains the feature it gets
    its SBOM and finding, and the policy set before blocks its download."""
    owner = await team(env)
    status, policy = await call(
        env, "PUT", "/api/v1/supply-chain/policy", owner.headers, json_body={"block_severity": "high"}
    )
    assert status == 200, policy
    await _set_plan(env, owner, "free")  # artifacts, no supply_chain
    filename, content = _wheel("acme-gated", "1.0", "acme-vuln==1.0")
    status, text = await upload_bytes(
        env.base, owner.team_id, owner.key, "acme-gated", "1.0", filename, content
    )
    assert status == 200, text

    async def deferred() -> Any:
        return await env.pool.fetchrow(
            "SELECT source, name, version FROM supply_chain.deferred_versions WHERE team_id = $1::uuid",
            owner.team_id,
        )

    row = await _until(deferred, "the published version was never deferred")
    assert (row["source"], row["name"], row["version"]) == ("artifact", "acme-gated", "1.0")
    for table in ("sboms", "findings", "announced_blocks"):
        count = await env.pool.fetchval(
            f"SELECT count(*) FROM supply_chain.{table} WHERE team_id = $1::uuid", owner.team_id
        )
        assert count == 0, table
    url = await file_url(env, owner, "acme-gated", filename)
    assert await _download(owner, url) == 200

    async def refused() -> Any:
        status, answer = await call(env, "GET", "/api/v1/sboms", owner.headers)
        return answer if status == 403 else None

    answer = await _until(refused, "the plan's refusal never reached the edge", seconds=30)
    assert answer["error"]["details"][0]["feature"] == "supply_chain", answer
    # The start-up backfill has passed over the version (and left it deferred): what follows is the
    # catch-up of a plan that gains the feature, not the first backfill.
    [agent] = [a for a in env.launcher.started if a.agent is AgentName.SUPPLY_CHAIN]

    async def backfilled() -> bool:
        return await backfill_runs(agent) >= 1

    await _until(backfilled, "the SBOM backfill never ran")
    assert await deferred() is not None
    assert (
        await env.pool.fetchval(
            "SELECT count(*) FROM supply_chain.sboms WHERE team_id = $1::uuid", owner.team_id
        )
        == 0
    )

    await _set_plan(env, owner, "local")

    async def sbom() -> Any:
        status, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers, params={"source": "artifact"})
        return sboms["items"] if status == 200 and sboms["items"] else None

    [made] = await _until(sbom, "the upgraded team's version never got its SBOM")
    assert (made["subject_name"], made["subject_version"], made["findings"]) == (
        "acme-gated",
        "1.0",
        {"high": 1},
    )
    status, findings = await call(env, "GET", "/api/v1/vulnerabilities", owner.headers)
    assert status == 200, findings
    assert [(f["advisory_id"], f["package"], f["version"]) for f in findings["items"]] == [
        ("MNO-POLICY-1", "acme-vuln", "1.0")
    ]

    async def blocked() -> bool:
        return await _download(owner, url) == 403

    await _until(blocked, "the upgraded team's vulnerable version was never blocked")
    assert await deferred() is None


async def test_a_plan_that_loses_supply_chain_has_its_blocks_released_by_the_periodic_sync(env: Env) -> None:
    """A blocked vulnerable version becomes downloadable within the block sync's interval (plus the
    time its announcement takes) after the team's plan moves to one without supply_chain, nothing else
    having changed; moved back, the version is blocked again as soon."""
    owner = await team(env)
    status, policy = await call(
        env, "PUT", "/api/v1/supply-chain/policy", owner.headers, json_body={"block_severity": "high"}
    )
    assert status == 200, policy
    filename, content = _wheel("acme-downgraded", "1.0", "acme-vuln==1.0")
    status, text = await upload_bytes(
        env.base, owner.team_id, owner.key, "acme-downgraded", "1.0", filename, content
    )
    assert status == 200, text
    url = await file_url(env, owner, "acme-downgraded", filename)

    async def blocked() -> bool:
        return await _download(owner, url) == 403

    await _until(blocked, "the vulnerable version was never blocked")
    # The agent's one pass over every team soon after it starts (with the SBOM backfill) is behind
    # it: from here only the periodic sync can notice the plan change (announced to no agent).
    [agent] = [a for a in env.launcher.started if a.agent is AgentName.SUPPLY_CHAIN]

    async def backfilled() -> bool:
        return await backfill_runs(agent) >= 1

    await _until(backfilled, "the SBOM backfill never ran")

    await _set_plan(env, owner, "free")
    within = BLOCK_SYNC_SECONDS * 1.2 + ANNOUNCED_SECONDS  # the job's interval has ±20 % jitter
    started = asyncio.get_running_loop().time()

    async def released() -> bool:
        return await _download(owner, url) == 200

    await _until(released, f"still blocked {within:.0f} s after the plan lost supply_chain", seconds=within)
    assert asyncio.get_running_loop().time() - started < within
    announced = await env.pool.fetchval(
        "SELECT count(*) FROM supply_chain.announced_blocks WHERE team_id = $1::uuid", owner.team_id
    )
    assert announced == 0

    await _set_plan(env, owner, "local")
    await _until(blocked, f"not blocked again {within:.0f} s after the plan regained it", seconds=within)
