"""Fixtures: the SDK against the real edge (the session's mesh), through a recording proxy per test.

`edge` is a fresh `EdgeProxy` in front of the mesh's SuperAgent with an API key of the local team
(the `local` plan: no practical event limit). `strict_edge` is a second SuperAgent replica of the same
mesh whose `free` plan allows 2 token events a month, so a plan limit bites; `free_plan_key` is a key
of a fresh free-plan team. `prompt_owner` is the owner of a fresh team (the `free` plan, which sells
prompts and experiments) with an API key, and `team_edge` a proxy in front of the mesh for that key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mno_sdk import MnoClient
from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role
from tests.fixtures import teams
from tests.fixtures.mesh import Mesh, MeshLauncher
from tests.prompts.api_support import Member, member, new_team
from tests.sdk.edge_proxy import EdgeProxy
from tests.sdk.stand_in_provider import StandInProvider

MakeClient = Callable[..., MnoClient]
STRICT_MONTHLY_EVENTS = 2


@dataclass(frozen=True)
class StrictEdge:
    url: str
    free_plan_key: str


@pytest.fixture(scope="session")
async def edge_key(mesh: Mesh) -> str:
    """An owner key of the local team on the session's mesh."""
    pool = await create_pool(mesh.launcher.postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        return await ensure_local_admin(pool)
    finally:
        await pool.close()


@pytest.fixture
async def strict_edge(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StrictEdge]:
    """A second edge with a tight free plan, on the session mesh's bus, for the one test that needs it.

    It joins the edge's queue groups, so it answers a share of the RPCs meant for the mesh's edge:
    kept for the session it made later tests on this worker flaky (a ping's "handled request" record
    or the edge's RPC histograms turned up in this edge, not the mesh's). It ends with its test.
    """
    plan = {"artifact_storage_bytes": 10**9, "prompts": 10, "experiments": 1, "seats": 3, "features": []}
    launcher = MeshLauncher(
        tmp_path_factory.mktemp("strict-edge"),
        mesh.launcher.nats_url,
        mesh.launcher.postgres_dsn,
        overrides={
            "plans": {"free": {**plan, "monthly_token_events": STRICT_MONTHLY_EVENTS}},
        },
    )
    try:
        launcher.start(AgentName.SUPER_AGENT)
        yield StrictEdge(launcher.edge_url, await _free_plan_key(launcher.postgres_dsn))
    finally:
        launcher.stop_all()


async def _free_plan_key(postgres_dsn: str) -> str:
    """A key of a fresh team of a Marketplace-less organisation, which is on the `free` plan."""
    pool = await create_pool(postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:
            return await teams.org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE], key_name="sdk")
    finally:
        await pool.close()


@pytest.fixture
def edge(mesh: Mesh, edge_key: str) -> Iterator[EdgeProxy]:
    proxy = EdgeProxy(mesh.edge_url, edge_key).start()
    yield proxy
    proxy.stop()


@pytest.fixture
async def prompt_owner(mesh: Mesh) -> Member:
    pool = await create_pool(mesh.launcher.postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        return await member(pool, await new_team(pool), Role.OWNER)
    finally:
        await pool.close()


@pytest.fixture
def team_edge(mesh: Mesh, prompt_owner: Member) -> Iterator[EdgeProxy]:
    proxy = EdgeProxy(mesh.edge_url, prompt_owner.key).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def make_team_client(team_edge: EdgeProxy) -> Iterator[MakeClient]:
    """Clients of `prompt_owner`'s team through `team_edge` (options: MnoClient's, and `base_url`)."""
    clients: list[MnoClient] = []

    def make(**options: Any) -> MnoClient:
        base_url = options.pop("base_url", team_edge.base_url)
        client = MnoClient(base_url, team_edge.api_key, **{"timeout": 5.0, **options})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=2)


@pytest.fixture
def make_client(edge: EdgeProxy) -> Iterator[MakeClient]:
    clients: list[MnoClient] = []

    def make(**options: Any) -> MnoClient:
        settings: dict[str, Any] = {
            "batch_size": 100,
            "flush_interval": 30.0,
            "timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            **options,
        }
        base_url = settings.pop("base_url", edge.base_url)
        api_key = settings.pop("api_key", edge.api_key)
        client = MnoClient(base_url, api_key, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=2)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def provider() -> Iterator[StandInProvider]:
    """The stand-in OpenAI / Anthropic / Gemini API on a loopback port."""
    server = StandInProvider().start()
    yield server
    server.stop()
