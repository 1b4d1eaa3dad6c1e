"""Plan features enforced on routing: a route that needs a feature answers 403 naming it, for teams
whose plan lacks it, over a real HTTP socket with plans read from PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import nats
import pytest
from aiohttp import web
from pydantic import BaseModel

from mno.stack import NatsServer
from services.gateway.auth import ApiKeyAuthenticator
from services.gateway.edge import build_app
from services.gateway.route_table import Call, Local, Route
from services.identity import apikeys
from services.identity.plans import PlanBook
from shared.bus.client import Bus
from shared.config.models import PlanEntitlements
from shared.db.migrations import migrate
from shared.db.postgres import create_pool
from shared.messages.permissions import Permission
from tests.fixtures.stack import free_port

PLANS = {
    "free": PlanEntitlements(
        monthly_token_events=1,
        artifact_storage_bytes=1,
        prompts=1,
        experiments=1,
        seats=1,
        features=["dashboard"],
    ),
    "team": PlanEntitlements(
        monthly_token_events=1,
        artifact_storage_bytes=1,
        prompts=1,
        experiments=1,
        seats=1,
        features=["prompts"],
    ),
}


class Answer(BaseModel):
    ok: bool


async def answer(_call: Call) -> BaseModel:
    return Answer(ok=True)


@pytest.fixture
async def gated(fresh_database: str, isolated_nats: NatsServer) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    pool = await create_pool(fresh_database, min_size=1, max_size=3, command_timeout=10)
    await migrate(pool, "super_agent")
    nc = await nats.connect(isolated_nats.url)
    routes = [
        Route(
            "GET",
            "/prompts-thing",
            "Needs the prompts feature.",
            Permission.MESH_READ,
            Local(answer),
            response=Answer,
            feature="prompts",
        ),
    ]
    app = build_app(
        routes,
        bus=Bus(nc, source="test", request_timeout=2),
        authenticator=ApiKeyAuthenticator(pool),
        max_body_bytes=1024,
        plan_gate=PlanBook(PLANS, "free", pool),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", pool
    finally:
        await runner.cleanup()
        await nc.close()
        await pool.close()


async def key_for(pool: asyncpg.Pool, github_id: int, login: str, plan_key: str | None) -> str:
    async with pool.acquire() as conn:
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES ($1, $2, 'Organization') "
            "RETURNING id",
            github_id,
            login,
        )
        team = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) VALUES ($1, $2, $2, true) "
            "RETURNING id::text",
            account,
            login,
        )
        if plan_key is not None:
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "VALUES ($1, $2, 'active', $3, '{}'::jsonb)",
                github_id,
                account,
                plan_key,
            )
        _, token = await apikeys.create(
            conn, team_id=team, name="k", permissions=[Permission.MESH_READ], created_by=None
        )
    return token


async def test_feature_missing_from_the_plan_is_403_naming_it(gated: tuple[str, asyncpg.Pool]) -> None:
    """A team on a plan without the route's feature gets 403 naming feature and plan; one with it, 200."""
    url, pool = gated
    without = await key_for(pool, 1, "free-org", None)
    with_it = await key_for(pool, 2, "team-org", "team")
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{url}/prompts-thing", headers={"Authorization": f"Bearer {without}"}
        ) as response:
            assert response.status == 403
            error = (await response.json())["error"]
        async with http.get(
            f"{url}/prompts-thing", headers={"Authorization": f"Bearer {with_it}"}
        ) as response:
            assert response.status == 200
    assert error["code"] == "forbidden"
    assert "prompts" in error["message"]
    assert error["details"][0]["plan"] == "free"


def test_a_gated_route_needs_a_gate() -> None:
    """Declaring a feature on a route of an app built without a plan gate is refused at start."""
    route = Route("GET", "/x", "x", Permission.MESH_READ, Local(answer), response=Answer, feature="prompts")
    with pytest.raises(ValueError, match="plan gate"):
        build_app([route], bus=None, authenticator=ApiKeyAuthenticator(None), max_body_bytes=1)  # type: ignore[arg-type]
