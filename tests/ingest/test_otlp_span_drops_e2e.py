"""OTLP spans that become no token event are reported per team through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import MeshLauncher
from tests.fixtures.teams import org_team_key
from tests.ingest.test_otlp_e2e import _export, _json_span, _post_traces

DROPS = "/api/v1/ingest/dropped-spans"


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, str, str]]:
    launcher.start(AgentName.SUPER_AGENT)
    pool: asyncpg.Pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        admin = await ensure_local_admin(pool)
        async with pool.acquire() as conn:
            other = await org_team_key(conn, [Permission.TOKEN_EVENTS_WRITE, Permission.COSTS_READ])
        yield launcher, admin, other
    finally:
        await pool.close()


async def _drops(
    http: aiohttp.ClientSession, launcher: MeshLauncher, token: str, **query: str
) -> tuple[int, dict]:
    async with http.get(
        f"{launcher.edge_url}{DROPS}", params=query, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await response.json()


async def test_a_teams_dropped_spans_show_in_its_report_and_not_in_another_teams(
    edge: tuple[MeshLauncher, str, str],
) -> None:
    """Team A's no_usage and not_genai spans are in A's dropped-spans report (fix first), not in B's."""
    launcher, team_a, team_b = edge
    no_usage = _json_span(
        "a" * 32,
        "1" * 16,
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"},
    )
    not_genai = _json_span("a" * 32, "2" * 16, {"http.request.method": "GET"}, name="GET /search")
    async with aiohttp.ClientSession() as http:
        answer = await _post_traces(http, launcher, team_a, _export(("app", [no_usage, not_genai])))
        assert answer["partialSuccess"]["rejectedSpans"] in (2, "2")
        status, report = await _drops(http, launcher, team_a)
        assert status == 200, report
        assert report["total"] == 2
        reasons = [(g["reason"], g["spans"]) for g in report["by_reason"]]
        assert reasons == [("no_usage", 1), ("not_genai", 1)]  # the one that loses money first
        first = report["by_reason"][0]
        assert first["loses_money"]
        assert "include_usage" in first["fix"]
        assert first["example"].startswith("chat")
        assert report["by_reason"][1]["fix"] is None
        status, other = await _drops(http, launcher, team_b)
        assert status == 200, other
        assert other["total"] == 0
        assert other["by_reason"] == []
        assert other["by_library"] == []
        status, error = await _drops(
            http, launcher, team_a, since="2026-01-01T00:00:00Z", until="2026-03-01T00:00:00Z"
        )
        assert status == 422, error
        assert error["error"]["code"] == "validation_failed"
