"""A SuperAgent and MonitoringAgent of this package's own, whose proxy upstreams are a local
stand-in provider; one NATS server and database for the module, so costs are this package's only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from mno.stack import NatsServer
from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures import teams
from tests.fixtures.mesh import MeshLauncher
from tests.fixtures.stack import free_port
from tests.proxy import stand_in as stand_in_module
from tests.proxy.stand_in import StandIn

PLAN = {
    "monthly_token_events": 10**9,
    "artifact_storage_bytes": 10**9,
    "prompts": 10,
    "experiments": 1,
    "seats": 10,
    "features": [],
}


@dataclass
class ProxyMesh:
    launcher: MeshLauncher
    pool: asyncpg.Pool
    stand_in: StandIn
    admin_key: str

    @property
    def edge_url(self) -> str:
        return self.launcher.edge_url

    async def team_key(self) -> str:
        """A key of a new team of its own (so its budgets and costs are its alone)."""
        permissions = [
            Permission.TOKEN_EVENTS_WRITE,
            Permission.COSTS_READ,
            Permission.BUDGETS_WRITE,
            Permission.BUDGETS_READ,
        ]
        async with self.pool.acquire() as conn:
            return await teams.org_team_key(conn, permissions, key_name="proxy")


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    yield from stand_in_module.start(StandIn())


@pytest.fixture(scope="module")
async def proxy_mesh(
    tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str, stand_in: StandIn
) -> AsyncIterator[ProxyMesh]:
    workdir: Path = tmp_path_factory.mktemp("proxy")
    nats = NatsServer()
    nats.start(workdir / "nats", port=free_port(), monitor_port=free_port())
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}"))
    launcher = MeshLauncher(workdir, nats.url, dsn)
    launcher.overrides = {
        "plans": {"free": PLAN, "local": PLAN},
        "proxy": {
            "openai_upstream": f"{stand_in.url}/v1",
            "anthropic_upstream": f"{stand_in.url}/v1",
            "gemini_upstream": f"{stand_in.url}/v1beta",
            "read_timeout_seconds": 5,
        },
    }
    pool = None
    try:
        launcher.start(AgentName.SUPER_AGENT, wait=False)
        launcher.start(AgentName.MONITORING, wait=False)
        for handle in launcher.started:
            handle.wait_ready()
        pool = await create_pool(dsn, min_size=1, max_size=3, command_timeout=10)
        yield ProxyMesh(launcher, pool, stand_in, await ensure_local_admin(pool))
    finally:
        if pool is not None:
            await pool.close()
        launcher.stop_all()
        nats.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
