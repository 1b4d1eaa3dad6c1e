"""The price book: team overrides from PostgreSQL on top of genai-prices, cached per team, invalidated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from services.pricing.genai import GenaiPricesSource
from services.pricing.interface import UnknownModel
from services.pricing.models import Usage
from services.pricing.overrides import PriceOverride
from services.token_costs import overrides_store
from services.token_costs.price_book import OverrideLoader, PriceBook
from shared.messages.prices import RepriceRequest

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BASE = GenaiPricesSource()
GPT4O_CALL = Usage(input_tokens=1_000, output_tokens=100)  # $0.0035 at $2.50 / $10 per MTok


def override(**fields: Any) -> PriceOverride:
    values: dict[str, Any] = {
        "provider": "openai",
        "model_pattern": "gpt-4o",
        "effective_from": T0 - timedelta(days=30),
    }
    values.update(fields)
    return PriceOverride.model_validate(values)


async def add(pool: asyncpg.Pool, team: str, **fields: Any) -> str:
    async with pool.acquire() as conn:
        row = await overrides_store.create(conn, team, override(**fields), "user-1")
    return str(row["id"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(pool: asyncpg.Pool) -> tuple[list[str], OverrideLoader]:
    """The real PostgreSQL loader, recording each team it loads."""
    calls: list[str] = []
    load = overrides_store.loader(pool)

    async def counted(team_id: str) -> Sequence[PriceOverride]:
        calls.append(team_id)
        return await load(team_id)

    return calls, counted


async def test_a_custom_model_is_priced_by_its_override(migrated_pool: asyncpg.Pool) -> None:
    """acme-1 at $0.40 in / $1.60 out per MTok: 10,000 in + 2,000 out = $0.0072, version names it."""
    team = str(uuid.uuid4())
    override_id = await add(
        migrated_pool,
        team,
        provider="acme",
        model_pattern="acme-1",
        input_per_mtok="0.40",
        output_per_mtok="1.60",
    )
    book = PriceBook(overrides_store.loader(migrated_pool), BASE)
    price = (await book.source_for(team)).price(
        "acme", "acme-1", Usage(input_tokens=10_000, output_tokens=2_000), T0
    )
    assert price.total == Decimal("0.0072")
    assert price.price_version == f"override:{override_id}"
    with pytest.raises(UnknownModel):
        BASE.price("acme", "acme-1", GPT4O_CALL, T0)


async def test_a_discount_on_gpt_4o_takes_its_share_off_genai_prices(migrated_pool: asyncpg.Pool) -> None:
    """20% off gpt-4o: $0.0035 becomes $0.0028; the version says override, discount and base version."""
    team = str(uuid.uuid4())
    override_id = await add(migrated_pool, team, discount_percent="20")
    book = PriceBook(overrides_store.loader(migrated_pool), BASE)
    price = (await book.source_for(team)).price("openai", "gpt-4o", GPT4O_CALL, T0)
    assert price.total == Decimal("0.0028")
    base_version = BASE.price("openai", "gpt-4o", GPT4O_CALL, T0).price_version
    assert price.price_version == f"override:{override_id} (-20% of {base_version})"


async def test_events_before_an_override_takes_effect_keep_the_base_price(
    migrated_pool: asyncpg.Pool,
) -> None:
    """An override from T0 (to T0 + 1 day) leaves calls before T0 and after its end at genai-prices."""
    team = str(uuid.uuid4())
    await add(
        migrated_pool, team, discount_percent="50", effective_from=T0, effective_to=T0 + timedelta(days=1)
    )
    source = await PriceBook(overrides_store.loader(migrated_pool), BASE).source_for(team)
    assert source.price("openai", "gpt-4o", GPT4O_CALL, T0 - timedelta(milliseconds=1)).total == Decimal(
        "0.0035"
    )
    assert source.price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal("0.00175")
    assert source.price("openai", "gpt-4o", GPT4O_CALL, T0 + timedelta(days=1)).total == Decimal("0.0035")


async def test_overrides_are_per_team_and_deleted_ones_stop_applying(migrated_pool: asyncpg.Pool) -> None:
    """Team B never gets team A's override; A's override, deleted, prices nothing any more."""
    team_a, team_b = str(uuid.uuid4()), str(uuid.uuid4())
    override_id = await add(migrated_pool, team_a, discount_percent="20")
    book = PriceBook(overrides_store.loader(migrated_pool), BASE)
    assert (await book.source_for(team_b)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal(
        "0.0035"
    )
    async with migrated_pool.acquire() as conn:
        assert await overrides_store.delete(conn, team_b, override_id, "intruder") is None
        assert await overrides_store.delete(conn, team_a, override_id, "user-1") is not None
        listed = await overrides_store.list_for(conn, team_a, include_deleted=True)
    assert [(o.id, o.deleted_at is not None) for o in listed] == [(override_id, True)]
    book.invalidate(team_a)
    assert (await book.source_for(team_a)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal(
        "0.0035"
    )


async def test_a_change_bites_here_at_once_and_on_other_replicas_within_the_ttl(
    migrated_pool: asyncpg.Pool,
) -> None:
    """This process invalidates on change; another replica's cached source lasts until its TTL runs out."""
    team = str(uuid.uuid4())
    clock = Clock()
    here = PriceBook(overrides_store.loader(migrated_pool), BASE, ttl_seconds=5, clock=clock)
    elsewhere = PriceBook(overrides_store.loader(migrated_pool), BASE, ttl_seconds=5, clock=clock)
    for book in (here, elsewhere):
        assert (await book.source_for(team)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal(
            "0.0035"
        )
    await add(migrated_pool, team, discount_percent="20")
    here.invalidate(team)
    assert (await here.source_for(team)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal("0.0028")
    clock.now += 4.9
    assert (await elsewhere.source_for(team)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal(
        "0.0035"
    )
    clock.now += 0.2
    assert (await elsewhere.source_for(team)).price("openai", "gpt-4o", GPT4O_CALL, T0).total == Decimal(
        "0.0028"
    )


async def test_concurrent_batches_of_a_team_share_one_load(migrated_pool: asyncpg.Pool) -> None:
    """Fifty lookups at once read PostgreSQL once; a cached team is not read again; fresh always reads."""
    team = str(uuid.uuid4())
    calls, load = counting(migrated_pool)
    book = PriceBook(load, BASE)
    sources = await asyncio.gather(*(book.source_for(team) for _ in range(50)))
    assert calls == [team]
    assert all(source is sources[0] for source in sources)
    await book.source_for(team)
    assert calls == [team]
    await book.source_for(team, fresh=True)
    assert calls == [team, team]


async def test_a_load_racing_an_invalidation_is_not_cached(migrated_pool: asyncpg.Pool) -> None:
    """A load that began before a change is used by its waiters but not kept: the next lookup reloads."""
    team = str(uuid.uuid4())
    calls, load = counting(migrated_pool)
    gate = asyncio.Event()

    async def slow(team_id: str) -> Sequence[PriceOverride]:
        await gate.wait()
        return await load(team_id)

    book = PriceBook(slow, BASE)
    first = asyncio.create_task(book.source_for(team))
    await asyncio.sleep(0)
    book.invalidate(team)
    gate.set()
    await first
    await book.source_for(team)
    assert calls == [team, team]


async def test_the_store_keeps_exact_prices_and_refuses_what_pricing_refuses(
    migrated_pool: asyncpg.Pool,
) -> None:
    """Prices come back as entered (Decimal); both prices and a discount is refused by the schema too."""
    team = str(uuid.uuid4())
    await add(
        migrated_pool,
        team,
        input_per_mtok="0.000000000001",
        output_per_mtok="123456.5",
        cache_read_per_mtok="0",
    )
    async with migrated_pool.acquire() as conn:
        (info,) = await overrides_store.list_for(conn, team)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO monitoring.price_overrides (id, team_id, provider, model_pattern,"
                " effective_from, input_per_mtok, output_per_mtok, discount_percent)"
                " VALUES ($1, $2, 'p', 'm', now(), 1, 1, 5)",
                uuid.uuid4(),
                uuid.UUID(team),
            )
    assert (info.input_per_mtok, info.output_per_mtok, info.cache_read_per_mtok) == (
        Decimal("0.000000000001"),
        Decimal("123456.5"),
        Decimal("0"),
    )


def test_a_reprice_range_is_bounded() -> None:
    """At most 400 days, and until after since."""
    RepriceRequest(since=T0, until=T0 + timedelta(days=400))
    with pytest.raises(ValidationError):
        RepriceRequest(since=T0, until=T0 + timedelta(days=400, seconds=1))
    with pytest.raises(ValidationError):
        RepriceRequest(since=T0, until=T0)
