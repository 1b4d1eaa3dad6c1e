"""A SuperAgent and MonitoringAgent of this package's own, whose proxy upstreams are a local
stand-in provider; one NATS server and database for the module, so costs are this package's only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures import teams
from tests.fixtures.mesh import MeshLauncher, own_mesh
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
    overrides = {
        "plans": {"free": PLAN, "local": PLAN},
        "proxy": {
            "openai_upstream": f"{stand_in.url}/v1",
            "anthropic_upstream": f"{stand_in.url}/v1",
            "gemini_upstream": f"{stand_in.url}/v1beta",
            "read_timeout_seconds": 5,
        },
    }
    agents = (AgentName.SUPER_AGENT, AgentName.MONITORING)
    async with own_mesh(tmp_path_factory.mktemp("proxy"), postgres_dsn, agents, overrides) as (
        launcher,
        pool,
    ):
        yield ProxyMesh(launcher, pool, stand_in, await ensure_local_admin(pool))
