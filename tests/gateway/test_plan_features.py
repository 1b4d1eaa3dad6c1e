"""Plan features are enforced: every route of a gated capability declares its feature (the table is
refused otherwise), /api/v1/anomalies answers 403 to a plan without anomaly detection, a budget
comes without its forecast on a plan without forecasts, and the MonitoringAgent's forecast alerts
and anomaly checks serve only entitled teams (asked of the SuperAgent over real NATS)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, get_args

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS

from agents.super_agent.routes import ROUTES
from mno.stack import NatsServer
from services.anomalies.detector import AnomalyDetector
from services.budgets.forecasting import SpendForecaster
from services.budgets.jobs import forecast_alerts
from services.gateway.route_table import GATED_PATHS, Local, Route, check_table, feature_of_path
from services.identity import apikeys
from services.identity.bootstrap import ensure_local_admin
from services.identity.plan_features import serve_teams_with_feature
from services.identity.plans import PlanBook
from services.token_costs.store import TokenCostStore
from shared.bus.client import Bus
from shared.bus.errors import BusError
from shared.bus.service import AgentService
from shared.config.models import FeatureName, PlanEntitlements
from shared.db.clickhouse import ClickHouse
from shared.db.postgres import create_pool
from shared.entitlements import EntitledTeams
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role
from shared.messages.registry import TEAMS_WITH_FEATURE
from tests.anomalies import test_detector as anomaly_data
from tests.budgets import test_forecast_alerts as forecast_data
from tests.fixtures.mesh import MeshLauncher
from tests.identity.test_teams_support import account, person, request


def _plan(*features: FeatureName) -> PlanEntitlements:
    return PlanEntitlements(
        monthly_token_events=10**9,
        artifact_storage_bytes=1,
        prompts=1,
        experiments=1,
        seats=100,
        features=list(features),
    )


PLANS = {"free": _plan("dashboard"), "pro": _plan("dashboard", "forecasts", "anomaly_detection")}


# -- the route table ------------------------------------------------------------------------------


def test_every_route_of_a_gated_capability_declares_its_feature() -> None:
    """Walking the route table: each route under a gated capability's path declares that feature."""
    undeclared = [
        f"{route.method} {route.path} needs feature={feature_of_path(route.path)!r}, has {route.feature!r}"
        for route in ROUTES
        if feature_of_path(route.path) is not None and route.feature != feature_of_path(route.path)
    ]
    assert undeclared == []
    gated = {(route.method, route.path): route.feature for route in ROUTES if route.feature is not None}
    assert gated[("GET", "/api/v1/anomalies")] == "anomaly_detection"


def test_the_gated_paths_name_real_plan_features_and_cover_later_capabilities() -> None:
    """Every gated path names a feature plans can list; every sellable capability has its paths."""
    features = set(get_args(FeatureName))
    assert set(GATED_PATHS.values()) <= features
    # github is not sold by route (sign-in and webhooks serve every plan).
    assert features - set(GATED_PATHS.values()) == {"github"}


def test_a_later_capabilitys_route_without_its_feature_is_refused() -> None:
    """A table with a prompts/artifacts/supply-chain/dashboard route lacking its feature does not build."""

    async def handler(_call: Any) -> Any:
        raise AssertionError

    for path, feature in (
        ("/api/v1/prompts/{prompt_id}", "prompts"),
        ("/api/v1/artifacts", "artifacts"),
        ("/api/v1/sboms", "supply_chain"),
        ("/api/v1/dashboard/overview", "dashboard"),
        ("/api/v1/anomalies/summary", "anomaly_detection"),
    ):
        bare = Route("GET", path, "x", Permission.COSTS_READ, Local(handler))
        with pytest.raises(ValueError, match=f"declare feature='{feature}'"):
            check_table([bare])
    # Whole segments only: a path that merely starts with the same letters is not gated.
    assert feature_of_path("/api/v1/promptsx") is None
    assert feature_of_path("/api/v1/costs") is None


# -- scheduled work of the MonitoringAgent ----------------------------------------------------------


@pytest.fixture
async def superagent_answers(
    isolated_nats: NatsServer, migrated_pool: asyncpg.Pool
) -> AsyncIterator[tuple[NATS, AgentService]]:
    """The SuperAgent's TEAMS_WITH_FEATURE endpoint on a real NATS server, over real PostgreSQL."""
    nc = await nats.connect(isolated_nats.url)
    service = AgentService(nc, AgentName.SUPER_AGENT, version="1.0.0", instance_id="t1", max_concurrency=4)
    service.add(TEAMS_WITH_FEATURE, serve_teams_with_feature(migrated_pool, PlanBook(PLANS, "free")))
    await service.start()
    try:
        yield nc, service
    finally:
        await service.stop(2)
        await nc.close()


async def two_teams(pool: asyncpg.Pool) -> tuple[str, str]:
    """(a team on the pro plan, a team on the default free plan)."""
    _, entitled = await account(pool, f"pro-{uuid.uuid4().hex[:8]}", plan="pro")
    _, not_entitled = await account(pool, f"free-{uuid.uuid4().hex[:8]}")
    return entitled, not_entitled


async def test_forecast_alerts_go_only_to_teams_whose_plan_has_forecasts(
    migrated_pool: asyncpg.Pool, analytics: ClickHouse, superagent_answers: tuple[NATS, AgentService]
) -> None:
    """Two teams running out alike: only the one on a plan with forecasts gets the forecast alert."""
    nc, service = superagent_answers
    entitled, not_entitled = await two_teams(migrated_pool)
    for team in (entitled, not_entitled):
        daily = await forecast_data.spend_daily(analytics, team, 40, 100)
        await forecast_data.make_budget(migrated_pool, team, "6", daily * 11)
    alerts = forecast_data.dispatcher(migrated_pool)
    forecaster = SpendForecaster(TokenCostStore(analytics))
    teams = EntitledTeams(Bus(nc, source="monitoring", request_timeout=5))
    assert await forecast_alerts(migrated_pool, forecaster, alerts, forecast_data.NOW, entitled=teams) == 1
    assert [e.alert.kind.value for e in (await alerts.history(entitled)).entries] == ["budget_forecast"]
    assert (await alerts.history(not_entitled)).entries == []
    # Without an answer about plans, nobody is alerted this run (the next asks again).
    await service.stop(2)
    with pytest.raises(BusError):
        await forecast_alerts(
            migrated_pool, forecaster, alerts, forecast_data.NOW + timedelta(days=1), entitled=teams
        )


async def test_anomaly_checks_serve_only_teams_whose_plan_has_anomaly_detection(
    migrated_pool: asyncpg.Pool, analytics: ClickHouse, superagent_answers: tuple[NATS, AgentService]
) -> None:
    """The same spike in two teams: only the entitled team's is found, stored and alerted."""
    nc, _ = superagent_answers
    entitled, not_entitled = await two_teams(migrated_pool)
    for team in (entitled, not_entitled):
        await anomaly_data.hourly_calls(analytics, team, spike=4.0)
    alerts = anomaly_data.dispatcher(migrated_pool)
    teams = EntitledTeams(Bus(nc, source="monitoring", request_timeout=5))
    detector = AnomalyDetector(migrated_pool, analytics, alerts, teams)
    assert await detector.run(anomaly_data.NOW) == 2  # spend and tokens, of the entitled team
    assert len((await alerts.history(entitled)).entries) == 2
    assert (await alerts.history(not_entitled)).entries == []


# -- through the edge -------------------------------------------------------------------------------


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    await asyncio.to_thread(launcher.start, AgentName.MONITORING)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher.edge_url, pool
    finally:
        await pool.close()


async def test_the_edge_gates_anomalies_and_budget_forecasts_by_plan(edge: tuple[str, asyncpg.Pool]) -> None:
    """Free plan: /api/v1/anomalies is 403 naming the feature, a budget has no forecast; local: both."""
    base, pool = edge
    _, home = await account(pool, "gated-org")
    owner = await person(pool, home, "gated-owner", Role.OWNER)
    async with pool.acquire() as conn:
        _, token = await apikeys.create(
            conn,
            team_id=home,
            name="gated",
            permissions=[Permission.COSTS_READ, Permission.BUDGETS_READ, Permission.BUDGETS_WRITE],
            created_by=owner.user_id,
        )
    free = {"Authorization": f"Bearer {token}"}
    local = {"Authorization": f"Bearer {await ensure_local_admin(pool)}"}
    window = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}

    status, refused = await request(base, "GET", "/api/v1/anomalies", free, params=window)
    assert status == 403, refused
    assert refused["error"]["details"][0]["feature"] == "anomaly_detection"
    status, listed = await request(base, "GET", "/api/v1/anomalies", local, params=window)
    assert status == 200, listed

    for headers, has_forecast in ((free, False), (local, True)):
        status, created = await request(
            base, "POST", "/api/v1/budgets", headers, {"name": "monthly", "amount_usd": "10"}
        )
        assert status == 201, created
        status, budget = await request(base, "GET", f"/api/v1/budgets/{created['id']}", headers)
        assert status == 200, budget
        assert (budget["forecast"] is not None) == has_forecast
