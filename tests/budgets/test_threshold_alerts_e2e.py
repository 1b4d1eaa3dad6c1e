"""Calls reported through the SDK to the real mesh cross a budget's thresholds: each e-mailed once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_DOWN, Decimal

import asyncpg
import pytest

from mno_sdk import MnoClient
from services.identity.bootstrap import ensure_local_admin
from shared.messages.agents import AgentName
from tests.alerts.test_alerts_e2e import start
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.fixtures.edge import call, knows_budgets, until
from tests.fixtures.mesh import MeshLauncher
from tests.sdk.providers import OPENAI_CHAT_OBJECT


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def pool(launcher: MeshLauncher, smtp: SmtpServer) -> AsyncIterator[asyncpg.Pool]:
    db = await start(launcher, smtp, allow_private=True)
    try:
        yield db
    finally:
        await db.close()


async def test_sdk_calls_cross_budget_thresholds_and_each_alert_is_mailed_once(
    launcher: MeshLauncher, pool: asyncpg.Pool, smtp: SmtpServer
) -> None:
    """Responses recorded by the SDK are priced; 50 % and 100 % of a soft budget are each mailed once."""
    admin = await ensure_local_admin(pool)
    status, _ = await call(
        launcher,
        "POST",
        "/api/v1/alert-channels",
        admin,
        {"name": "finance", "config": {"kind": "email", "recipients": ["finance@example.com"]}},
    )
    assert status == 201
    sdk = MnoClient(launcher.edge_url, admin, batch_size=10, flush_interval=0.1)
    try:
        sdk.record_openai(OPENAI_CHAT_OBJECT, project="search")
        assert await asyncio.to_thread(sdk.flush, 10)
        one_call = await until(lambda: _cost(launcher, admin))
        assert one_call > 0
        # A budget of about three calls, made after the first: it starts a third spent; four pass it.
        status, budget = await call(
            launcher,
            "POST",
            "/api/v1/budgets",
            admin,
            {
                "name": "search",
                "amount_usd": str((one_call * 3).quantize(Decimal("0.000001"), ROUND_DOWN)),
                "scope": "project",
                "scope_value": "search",
                "thresholds": [50, 100],
            },
        )
        assert status == 201, budget
        assert Decimal(budget["spent_usd"]) == one_call
        # Made through this edge: its set of teams with budgets has the team already (no waiting).
        await knows_budgets(next(a for a in launcher.started if a.agent is AgentName.SUPER_AGENT))
        for _ in range(3):
            sdk.record_openai(OPENAI_CHAT_OBJECT, project="search")
        assert await asyncio.to_thread(sdk.flush, 10)
        assert sdk.stats.sent == 4
    finally:
        await asyncio.to_thread(sdk.close, 10)

    async def mailed() -> list[str]:
        subjects = [m.message["Subject"].strip() for m in smtp.handler.received]
        return subjects if len(subjects) >= 2 else []

    subjects = await until(mailed)
    assert len(subjects) == 2
    assert any("passed 50%" in subject for subject in subjects)
    assert any("passed 100%" in subject for subject in subjects)
    status, history = await call(launcher, "GET", "/api/v1/alerts", admin)
    kinds = [entry["alert"]["kind"] for entry in history["entries"]]
    assert kinds.count("budget_threshold") == 2


async def _cost(launcher: MeshLauncher, token: str) -> Decimal:
    status, report = await call(
        launcher,
        "GET",
        "/api/v1/costs",
        token,
        params={"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
    )
    return Decimal(report["totals"]["cost_usd"]) if status == 200 else Decimal(0)
