"""Admissions of one team that wait for its budget rows share the next transaction (issue 13 item 9):
the rows' lock is taken once per run, not per request, and every request still gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg

from services.budgets import store
from services.budgets.coalesce import Coalescer
from services.budgets.service import BudgetService
from services.pricing.genai import GenaiPricesSource
from services.pricing.interface import PriceSource
from services.pricing.models import Usage
from shared.bus.context import MessageContext
from shared.messages.budgets import AdmissionItem, AdmissionRequest, CreateBudget, Period
from shared.messages.envelope import Principal

NOW = datetime.now(UTC)
SOURCE = GenaiPricesSource()


async def test_requests_arriving_during_a_run_are_served_together_by_the_next() -> None:
    """One run at a time per key; the five requests that came meanwhile make one run, in order,
    each answered with its own result; another key runs beside them."""
    runs: list[tuple[str, list[int]]] = []
    release = asyncio.Event()

    async def run(key: str, items: list[int]) -> list[int]:
        runs.append((key, items))
        if len(runs) == 1:
            await release.wait()
        return [item * 10 for item in items]

    coalescer: Coalescer[str, int, int] = Coalescer(run)
    first = asyncio.create_task(coalescer.submit("team-a", 0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer.submit("team-a", n)) for n in range(1, 6)]
    other = asyncio.create_task(coalescer.submit("team-b", 7))
    await asyncio.sleep(0.01)
    assert runs == [("team-a", [0]), ("team-b", [7])]  # team-a's next run waits for its first
    release.set()
    assert await first == 0
    assert [await task for task in later] == [10, 20, 30, 40, 50]
    assert await other == 70
    assert runs == [("team-a", [0]), ("team-b", [7]), ("team-a", [1, 2, 3, 4, 5])]
    await coalescer.close()


async def test_a_run_takes_requests_up_to_its_size_and_a_failure_reaches_only_its_own() -> None:
    """max_size splits waiting requests into runs (a request is never split); a run that raises
    fails its own requests only, and the next run still happens."""
    runs: list[list[int]] = []

    async def run(_key: str, items: list[int]) -> list[int]:
        runs.append(items)
        if 99 in items:
            raise RuntimeError("database gone")
        return items

    coalescer: Coalescer[str, int, int] = Coalescer(run, size=lambda item: item, max_size=10)
    results = await asyncio.gather(
        *(coalescer.submit("t", n) for n in (4, 5, 3, 99, 2)), return_exceptions=True
    )
    assert runs == [[4, 5], [3], [99], [2]]
    assert results[:3] == [4, 5, 3]
    assert isinstance(results[3], RuntimeError)
    assert results[4] == 2


def _item(index: int, event_id: str) -> AdmissionItem:
    return AdmissionItem(
        index=index,
        id=event_id,
        timestamp=NOW,
        provider="openai",
        model="gpt-4o",
        input_tokens=1000,
        output_tokens=100,
    )


def _ctx(team_id: str) -> MessageContext:
    return MessageContext(principal=Principal(team_id=team_id, roles=("member",)))


async def _service_with_budget(pool: asyncpg.Pool, team_id: str, amount: Decimal) -> BudgetService:
    async def prices(_team: str) -> PriceSource:
        return SOURCE

    async with pool.acquire() as conn:
        budget = CreateBudget(name="cap", amount_usd=amount, period=Period.MONTH, hard_limit=True)
        await store.create(conn, team_id, budget, None)
    return BudgetService(pool, prices)


def _call_cost() -> Decimal:
    return SOURCE.price("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=100), NOW).total


async def test_sixty_concurrent_admissions_take_exactly_the_room_and_answer_each_by_its_index(
    migrated_pool: asyncpg.Pool,
) -> None:
    """Room for 20 calls, 60 one-event requests at once (served in shared runs): 20 admitted, 40
    refused, each refusal naming its own request's index and id, and the spend is the amount."""
    team_id = str(uuid.uuid4())
    cost = _call_cost()
    budgets = await _service_with_budget(migrated_pool, team_id, cost * 20)
    requests = [AdmissionRequest(items=[_item(0, f"e{n}")]) for n in range(60)]
    results = await asyncio.gather(*(budgets.admit(request, _ctx(team_id)) for request in requests))
    refused = [n for n, result in enumerate(results) if result.refused]
    assert len(refused) == 40
    for n in refused:
        assert [(r.index, r.id) for r in results[n].refused] == [(0, f"e{n}")]
    assert all(not result.duplicates for result in results)
    async with migrated_pool.acquire() as conn:
        spent = await conn.fetchval(
            "SELECT sum(spent_usd) FROM monitoring.budget_spend s JOIN monitoring.budgets b"
            " ON b.id = s.budget_id WHERE b.team_id = $1::uuid",
            team_id,
        )
    assert Decimal(spent) == cost * 20
    await budgets.close()


async def test_an_id_named_by_two_requests_of_one_run_is_counted_for_the_first_only(
    migrated_pool: asyncpg.Pool,
) -> None:
    """Two requests in one run both name event x: the first counts it, the second is told it is a
    duplicate (by its own index) and the spend holds x once."""
    team_id = str(uuid.uuid4())
    cost = _call_cost()
    budgets = await _service_with_budget(migrated_pool, team_id, cost * 100)
    first, second = await asyncio.gather(
        budgets.admit(AdmissionRequest(items=[_item(0, "x")]), _ctx(team_id)),
        budgets.admit(AdmissionRequest(items=[_item(0, "y"), _item(1, "x")]), _ctx(team_id)),
    )
    assert (first.duplicates, first.refused) == ([], [])
    assert (second.duplicates, second.refused) == ([1], [])
    async with migrated_pool.acquire() as conn:
        spent = await conn.fetchval(
            "SELECT sum(spent_usd) FROM monitoring.budget_spend s JOIN monitoring.budgets b"
            " ON b.id = s.budget_id WHERE b.team_id = $1::uuid",
            team_id,
        )
    assert Decimal(spent) == cost * 2
    await budgets.close()


async def test_refusals_name_the_batch_index_the_edge_sent_not_the_position(
    migrated_pool: asyncpg.Pool,
) -> None:
    """The edge sends only a batch's new events, keeping their batch indexes (5 and 9 here): a
    refusal names index 9, its id and its own model, whatever its position in the request."""
    team_id = str(uuid.uuid4())
    budgets = await _service_with_budget(migrated_pool, team_id, _call_cost() * 10)
    unknown = _item(9, "late").model_copy(update={"model": "no-such-model-anywhere"})
    result = await budgets.admit(AdmissionRequest(items=[_item(5, "first"), unknown]), _ctx(team_id))
    assert [(r.index, r.id, r.reason.value) for r in result.refused] == [(9, "late", "unpriced_model")]
    assert "'no-such-model-anywhere'" in result.refused[0].message
    await budgets.close()
