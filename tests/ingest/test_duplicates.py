"""The edge's ledger of accepted event ids: every resent id, in any grouping, through either ingest
route, for any team, is answered as a duplicate within the window, and counted once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest

from services.identity.bootstrap import ensure_local_admin
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.edge import call, until
from tests.fixtures.mesh import MeshLauncher
from tests.ingest.test_token_events_e2e import costs_when, event, org_team_key

PLAN = {"artifact_storage_bytes": 10**9, "prompts": 10, "experiments": 1, "seats": 3, "features": []}


@pytest.fixture
async def pool(launcher: MeshLauncher) -> AsyncIterator[asyncpg.Pool]:
    launcher.overrides = {
        "plans": {
            "free": {**PLAN, "monthly_token_events": 5},
            "local": {**PLAN, "monthly_token_events": 10**12},
        },
        "ingest": {"duplicate_window_days": 7, "duplicate_prune_interval_seconds": 0.3},
    }
    launcher.start(AgentName.SUPER_AGENT)
    db = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield db
    finally:
        await db.close()


async def post(launcher: MeshLauncher, token: str, *events: dict[str, Any]) -> tuple[int, Any]:
    return await call(launcher, "POST", "/api/v1/token-events", token, {"events": list(events)})


async def used(launcher: MeshLauncher, token: str) -> int:
    status, usage = await call(launcher, "GET", "/api/v1/usage", token)
    assert status == 200, usage
    return int(usage["usage"]["monthly_token_events"])


def outcome(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    return result["ids"], result["duplicate_ids"]


async def test_a_resent_id_in_another_grouping_is_a_duplicate_for_a_team_without_budgets(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """[c1, c2] then [c1] then [c2, c3]: the resent ids come back as duplicates by id, only new ones
    are accepted and counted, and every event is stored once."""
    launcher.start(AgentName.MONITORING)
    admin = await ensure_local_admin(pool)
    before = await used(launcher, admin)
    status, first = await post(launcher, admin, event("c1"), event("c2"))
    assert (status, outcome(first)) == (200, (["c1", "c2"], []))
    status, alone = await post(launcher, admin, event("c1"))
    assert (status, alone["accepted"], alone["duplicates"], outcome(alone)) == (200, 0, 1, ([], ["c1"]))
    status, mixed = await post(launcher, admin, event("c2"), event("c3"))
    assert (status, mixed["accepted"], mixed["duplicates"], outcome(mixed)) == (200, 1, 1, (["c3"], ["c2"]))
    assert await used(launcher, admin) - before == 3
    await costs_when(launcher, admin, 3)
    await asyncio.sleep(1.0)  # a second copy would be stored by now
    assert (await costs_when(launcher, admin, 3))["totals"]["events"] == 3


async def test_a_resend_at_the_monthly_limit_is_answered_as_duplicates_not_402(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """A team that used its 5 events resends them regrouped: 200 with duplicates; one new event among
    them is a 402 that claims nothing, so the resend is still a duplicate afterwards."""
    token = await org_team_key(pool, [Permission.TOKEN_EVENTS_WRITE, Permission.USAGE_READ])
    status, first = await post(launcher, token, *(event(f"m{i}") for i in range(5)))
    assert (status, first["accepted"]) == (200, 5)
    status, again = await post(launcher, token, event("m3"), event("m1"))
    assert (status, again["accepted"], outcome(again)) == (200, 0, ([], ["m3", "m1"])), again
    status, over = await post(launcher, token, event("m2"), event("m-new"))
    assert status == 402, over
    assert over["error"]["details"][0]["requested"] == 1  # only the new event counts
    status, still = await post(launcher, token, event("m2"))
    assert (status, outcome(still)) == (200, ([], ["m2"]))
    assert await used(launcher, token) == 5


async def test_ids_of_a_batch_that_could_not_be_published_are_released(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """With the events stream gone the batch gets 503 and counts nothing; its retry is accepted (not
    a duplicate), and only then is a regrouped resend a duplicate."""
    admin = await ensure_local_admin(pool)
    before = await used(launcher, admin)
    nc = await nats.connect(launcher.nats_url)
    try:
        js = nc.jetstream()
        await js.delete_stream(JetStreamSettings().events_stream)
        status, failed = await post(launcher, admin, event("f1"), event("f2"))
        assert status == 503, failed
        assert await used(launcher, admin) == before
        await ensure_streams(js, JetStreamSettings())
    finally:
        await nc.close()
    status, retry = await post(launcher, admin, event("f1"), event("f2"))
    assert (status, outcome(retry)) == (200, (["f1", "f2"], []))
    status, resend = await post(launcher, admin, event("f2"))
    assert (status, outcome(resend)) == (200, ([], ["f2"]))
    assert await used(launcher, admin) - before == 2


async def test_concurrent_requests_with_the_same_id_accept_it_exactly_once(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """Ten requests at once, each carrying the shared id and one of its own: one of them accepts the
    shared id, nine answer it as a duplicate; the plan counts 11."""
    admin = await ensure_local_admin(pool)
    before = await used(launcher, admin)
    answers = await asyncio.gather(
        *(post(launcher, admin, event("shared"), event(f"own{i}")) for i in range(10))
    )
    assert [status for status, _ in answers] == [200] * 10
    accepted = [result for _, result in answers if "shared" in result["ids"]]
    duplicated = [result for _, result in answers if result["duplicate_ids"] == ["shared"]]
    assert (len(accepted), len(duplicated)) == (1, 9)
    assert sorted(i for _, result in answers for i in result["ids"]) == sorted(
        ["shared", *(f"own{i}" for i in range(10))]
    )
    assert await used(launcher, admin) - before == 11


async def test_ids_older_than_the_window_are_pruned_and_accepted_again(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """The SuperAgent's periodic job forgets ids accepted more than duplicate_window_days ago (a
    resend of one is accepted again) and keeps younger ones (still duplicates)."""
    admin = await ensure_local_admin(pool)
    status, _ = await post(launcher, admin, event("old"), event("young"))
    assert status == 200
    await pool.execute(
        "UPDATE super_agent.ingested_event_ids SET accepted_at = now() - interval '7 days 1 minute' "
        "WHERE event_id = 'old'"
    )

    async def pruned() -> bool:
        return not await pool.fetchval(
            "SELECT count(*) FROM super_agent.ingested_event_ids WHERE event_id = 'old'"
        )

    assert await until(pruned, seconds=10)
    status, again = await post(launcher, admin, event("old"), event("young"))
    assert (status, outcome(again)) == (200, (["old"], ["young"]))


async def test_ids_are_per_team(launcher: MeshLauncher, pool: asyncpg.Pool) -> None:
    """Team B sending team A's ids gets them accepted; team A's regrouped resend stays a duplicate."""
    admin = await ensure_local_admin(pool)
    other = await org_team_key(pool, [Permission.TOKEN_EVENTS_WRITE])
    status, first = await post(launcher, admin, event("t1"), event("t2"))
    assert (status, first["accepted"]) == (200, 2)
    status, theirs = await post(launcher, other, event("t1"), event("t2"))
    assert (status, outcome(theirs)) == (200, (["t1", "t2"], []))
    status, ours = await post(launcher, admin, event("t2"), event("t3"))
    assert (status, outcome(ours)) == (200, (["t3"], ["t2"]))


async def test_spans_exported_again_in_another_export_are_counted_once(
    launcher: MeshLauncher, pool: asyncpg.Pool
) -> None:
    """OTLP goes through the same ledger: a GenAI span exported again alongside a new one counts
    one more event against the plan, not two."""
    admin = await ensure_local_admin(pool)
    before = await used(launcher, admin)
    now = time.time_ns()

    def span(span_id: str) -> dict[str, Any]:
        return {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": span_id,
            "name": "chat gpt-4o",
            "startTimeUnixNano": str(now - 10**9),
            "endTimeUnixNano": str(now),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}},
            ],
        }

    async with aiohttp.ClientSession() as http:
        for spans in ([span("eee19b7ec3c1b174")], [span("eee19b7ec3c1b174"), span("aaa19b7ec3c1b175")]):
            body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
            async with http.post(
                f"{launcher.edge_url}/v1/traces", json=body, headers={"Authorization": f"Bearer {admin}"}
            ) as response:
                assert response.status == 200, await response.text()
    assert await used(launcher, admin) - before == 2
