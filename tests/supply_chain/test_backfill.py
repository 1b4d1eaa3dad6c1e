"""The SBOM backfill: a version stored in the registry before the SupplyChainAgent ever ran (its publish
event no longer in the stream) gets its SBOM when the agent starts, asked of the ArtifactManagerAgent
over NATS; two replicas starting at once make one SBOM, not two."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator

import aiohttp
import nats
import pytest

from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.registry import ARTIFACT_PUBLISHED
from tests.fixtures.mesh import AgentProcess, MeshLauncher
from tests.registry.pypackages import upload_bytes
from tests.supply_chain.mesh_support import Env, call, team


@pytest.fixture
async def env(launcher: MeshLauncher) -> AsyncIterator[Env]:
    """The edge and the ArtifactManagerAgent only, on the test's own NATS and database."""
    await asyncio.gather(
        asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT),
        asyncio.to_thread(launcher.start, AgentName.ARTIFACT_MANAGER),
    )
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=30)
    try:
        yield Env(launcher.edge_url, pool, launcher.nats_url, launcher)
    finally:
        await pool.close()


def wheel(name: str, version: str, requires: list[str]) -> tuple[str, bytes]:
    stem = f"{name}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{stem}.dist-info/METADATA", metadata)
        archive.writestr(
            f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


async def backfill_runs(agent: AgentProcess) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{agent.metrics_port}/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        if (
            line.startswith("mno_job_runs_total{")
            and 'job="sbom_backfill"' in line
            and 'outcome="ok"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_version_stored_before_the_agent_started_gets_its_sbom_once(env: Env) -> None:
    """With its publish event gone from the stream, a stored wheel gets an SBOM of its declared
    dependencies from two SupplyChainAgent replicas started together, exactly one."""
    owner = await team(env)
    filename, content = wheel("early_bird", "1.0.0", ["jinja2==2.10", "requests>=2"])
    status, text = await upload_bytes(
        env.base, owner.team_id, owner.key, "early_bird", "1.0.0", filename, content
    )
    assert status == 200, text
    client = await nats.connect(env.nats_url)
    try:  # as if it had been stored before the consumer existed, beyond the stream's retention
        await client.jetstream().purge_stream("MNO_EVENTS", subject=ARTIFACT_PUBLISHED.subject)
    finally:
        await client.close()

    # Started together (one after the other without waiting: ports are picked one at a time).
    replicas = [env.launcher.start(AgentName.SUPPLY_CHAIN, wait=False) for _ in range(2)]
    await asyncio.gather(*(asyncio.to_thread(r.wait_ready) for r in replicas))
    deadline = asyncio.get_running_loop().time() + 90
    while not all([await backfill_runs(r) >= 1 for r in replicas]):
        assert asyncio.get_running_loop().time() < deadline, "the backfill did not run on both replicas"
        await asyncio.sleep(0.5)

    status, sboms = await call(env, "GET", "/api/v1/sboms", owner.headers)
    assert status == 200, sboms
    [sbom] = sboms["items"]
    assert (sbom["source"], sbom["subject_name"], sbom["subject_version"]) == (
        "artifact",
        "early-bird",
        "1.0.0",
    )
    status, document = await call(
        env, "GET", f"/api/v1/sboms/{sbom['id']}/document", owner.headers, params={"format": "cyclonedx"}
    )
    assert status == 200, document
    purls = {c.get("purl") for c in document["components"]}
    assert "pkg:pypi/jinja2@2.10" in purls
    assert {c["name"] for c in document["components"]} >= {"jinja2", "requests"}
