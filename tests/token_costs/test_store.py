"""Token costs in ClickHouse: priced rows stored once, exact reports from rollups and raw events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.messages.telemetry import CostQuery, TokenEvent, TokenEventColumns

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PRICES = GenaiPricesSource()


def event(event_id: str, at: datetime = T0, **fields: object) -> TokenEvent:
    values: dict[str, object] = {
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1_000,
        "output_tokens": 100,
        "latency_ms": 200.0,
    }
    values.update(fields)
    return TokenEvent.model_validate({"id": event_id, "timestamp": at, **values})


def rows(team: str, *events: TokenEvent):  # type: ignore[no-untyped-def]
    return price_events(PRICES, team, "key1", T0, TokenEventColumns.of(events))


def query(**fields: object) -> CostQuery:
    values: dict[str, object] = {"since": T0 - timedelta(hours=1), "until": T0 + timedelta(days=2)}
    values.update(fields)
    return CostQuery.model_validate(values)


async def test_a_resent_event_is_stored_once(clickhouse: ClickHouse) -> None:
    """The same event ids written again (by a fresh writer, as after a restart) store nothing."""
    store = TokenCostStore(clickhouse)
    first = await TokenEventWriter(store).write(rows("team-a", event("e1"), event("e2")))
    again = await TokenEventWriter(store).write(rows("team-a", event("e2"), event("e3")))
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (1, 1)
    report = await store.report("team-a", query())
    assert report.totals.events == 3


async def test_concurrent_batches_sharing_ids_store_each_event_once(clickhouse: ClickHouse) -> None:
    """Batches coalesced into one flush dedupe among themselves too."""
    writer = TokenEventWriter(TokenCostStore(clickhouse))
    results = await asyncio.gather(
        *(writer.write(rows("team-a", event(f"e{i}"), event(f"e{i + 1}"))) for i in range(10))
    )
    assert sum(r.stored for r in results) == 11
    assert sum(r.duplicates for r in results) == 9


async def test_same_event_id_in_two_teams_is_two_events(clickhouse: ClickHouse) -> None:
    """Event ids are unique per team: another team's id never hides an event."""
    writer = TokenEventWriter(TokenCostStore(clickhouse))
    assert (await writer.write(rows("team-a", event("same")))).stored == 1
    assert (await writer.write(rows("team-b", event("same")))).stored == 1


async def test_totals_are_exact_decimal_sums_of_genai_prices(clickhouse: ClickHouse) -> None:
    """gpt-4o at $2.50 in / $10 out per MTok: 3 x (1,000 in + 100 out) = $0.0105 exactly."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(rows("team-a", event("e1"), event("e2"), event("e3")))
    report = await store.report("team-a", query())
    assert report.totals.cost_usd == Decimal("0.0105")
    assert report.totals.input_tokens == 3000
    assert report.totals.latency_p50_ms == pytest.approx(200.0)


async def test_unknown_models_are_stored_unpriced(clickhouse: ClickHouse) -> None:
    """A model without a price counts its tokens, costs 0 and is reported as unpriced."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(rows("team-a", event("e1", provider="acme", model="house-llm")))
    report = await store.report("team-a", query())
    assert (report.totals.events, report.totals.unpriced_events) == (1, 1)
    assert report.totals.cost_usd == Decimal(0)


async def test_groups_and_hourly_series_from_the_rollup(clickhouse: ClickHouse) -> None:
    """Grouped by model, hour buckets: each group's series sums to its total."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(
        rows(
            "team-a",
            event("a1", T0 + timedelta(minutes=5)),
            event("a2", T0 + timedelta(hours=1, minutes=5)),
            event("b1", T0 + timedelta(minutes=7), model="gpt-4o-mini", project="search"),
        )
    )
    report = await store.report("team-a", query(group_by="model", bucket="hour"))
    by_model = {g.key["model"]: g for g in report.groups}
    assert set(by_model) == {"gpt-4o", "gpt-4o-mini"}
    assert report.groups[0].key == {"model": "gpt-4o"}  # costliest first
    assert [p.events for p in by_model["gpt-4o"].series] == [1, 1]
    assert [p.bucket_start for p in by_model["gpt-4o"].series] == [T0, T0 + timedelta(hours=1)]
    for group in report.groups:
        assert sum(p.cost_usd for p in group.series) == group.totals.cost_usd
    assert sum(g.totals.cost_usd for g in report.groups) == report.totals.cost_usd


async def test_rollup_and_raw_events_agree(clickhouse: ClickHouse) -> None:
    """An hour-aligned range (rollup) and the same range cut a millisecond off (raw) give one answer."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(
        rows("team-a", *(event(f"e{i}", T0 + timedelta(minutes=i * 7), user=f"u{i % 3}") for i in range(40)))
    )
    aligned = await store.report("team-a", query(group_by="user"))
    raw = await store.report(
        "team-a", query(group_by="user", since=T0 - timedelta(hours=1) + timedelta(milliseconds=1))
    )
    assert [(g.key, g.totals.cost_usd, g.totals.events) for g in aligned.groups] == [
        (g.key, g.totals.cost_usd, g.totals.events) for g in raw.groups
    ]


async def test_group_by_tag_and_minute_buckets(clickhouse: ClickHouse) -> None:
    """A tag groups by its values; minute buckets read the raw events."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(
        rows(
            "team-a",
            event("e1", tags={"feature": "search"}),
            event("e2", T0 + timedelta(minutes=1), tags={"feature": "chat"}),
            event("e3", T0 + timedelta(minutes=1), tags={"feature": "chat", "tier": "pro"}),
            event("e4", tags={}),
        )
    )
    tagged = await store.report("team-a", query(group_by="tag:feature"))
    assert {g.key["tag:feature"]: g.totals.events for g in tagged.groups} == {"chat": 2, "search": 1}
    minutes = await store.report("team-a", query(bucket="minute", since=T0, until=T0 + timedelta(minutes=10)))
    assert [p.events for p in minutes.groups[0].series] == [2, 2]


async def test_filters_narrow_the_report(clickhouse: ClickHouse) -> None:
    """Filtering by project counts only that project's events."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(
        rows("team-a", event("e1", project="search"), event("e2", project="chat"))
    )
    report = await store.report("team-a", query(project="search"))
    assert report.totals.events == 1


async def test_a_team_sees_only_its_own_costs(clickhouse: ClickHouse) -> None:
    """Team B's report never includes team A's events."""
    store = TokenCostStore(clickhouse)
    await TokenEventWriter(store).write(rows("team-a", event("e1")))
    report = await store.report("team-b", query(group_by="model"))
    assert report.totals.events == 0
    assert report.groups == []


async def test_purge_removes_the_teams_events_and_rollups(clickhouse: ClickHouse) -> None:
    """After a purge neither raw nor rolled-up figures of the team remain; other teams keep theirs."""
    store = TokenCostStore(clickhouse)
    writer = TokenEventWriter(store)
    await writer.write(rows("team-a", event("e1"), event("e2")))
    await writer.write(rows("team-b", event("e1")))
    assert await store.purge_teams(["team-a"]) == 2
    assert (await store.report("team-a", query())).totals.events == 0
    assert (await store.report("team-a", query(group_by="tag:x"))).totals.events == 0
    assert (await store.report("team-b", query())).totals.events == 1


async def test_too_many_minute_points_is_refused(clickhouse: ClickHouse) -> None:
    """Minute buckets over weeks are refused with advice instead of returning millions of points."""
    from services.token_costs.queries import QueryTooLarge

    with pytest.raises(QueryTooLarge, match="hour or day"):
        await TokenCostStore(clickhouse).report("team-a", query(bucket="minute"))


async def test_daily_rollup_hourly_rollup_and_raw_events_agree(clickhouse: ClickHouse) -> None:
    """Day-aligned (daily rollup), hour-aligned (hourly) and unaligned (raw) ranges give one answer."""
    store = TokenCostStore(clickhouse)
    day = T0.replace(hour=0)
    await TokenEventWriter(store).write(
        rows(
            "team-a",
            *(
                event(f"e{i}", day + timedelta(minutes=i * 97), model=("gpt-4o", "gpt-4o-mini")[i % 2])
                for i in range(40)
            ),
        )
    )
    answers = []
    for since, until in (
        (day, day + timedelta(days=3)),
        (day, day + timedelta(days=2, hours=23)),
        (day - timedelta(milliseconds=1), day + timedelta(days=3)),
    ):
        report = await store.report("team-a", query(since=since, until=until, group_by="model", bucket="day"))
        answers.append(
            [(g.key, g.totals.cost_usd, g.totals.events, [p.events for p in g.series]) for g in report.groups]
        )
    assert answers[0] == answers[1] == answers[2]
    assert sum(g[2] for g in answers[0]) == 40


async def test_a_range_cut_through_hours_and_days_sums_every_piece_once(clickhouse: ClickHouse) -> None:
    """An unaligned range (raw edges, hourly and daily rollups) counts exactly the events inside it."""
    store = TokenCostStore(clickhouse)
    day = T0.replace(hour=0)
    stamps = [day - timedelta(hours=1, minutes=50) + timedelta(minutes=37 * i) for i in range(150)]
    events = [
        event(f"e{i}", at, model=("gpt-4o", "gpt-4o-mini")[i % 2], user=f"u{i % 3}", tags={"f": f"v{i % 2}"})
        for i, at in enumerate(stamps)
    ]
    await TokenEventWriter(store).write(rows("team-a", *events))
    since, until = day - timedelta(hours=1, minutes=15), day + timedelta(days=2, hours=3, minutes=33)
    inside = [e for e in events if since <= e.timestamp < until]
    assert 0 < len(inside) < len(events)
    # Every event of a model costs the same (same tokens): one event's cost, read raw, prices them all.
    unit = {}
    for model in ("gpt-4o", "gpt-4o-mini"):
        first = next(e for e in events if e.model == model)
        one = await store.report(
            "team-a", query(since=first.timestamp, until=first.timestamp + timedelta(seconds=1))
        )
        unit[model] = one.totals.cost_usd
    by_model = await store.report("team-a", query(since=since, until=until, group_by="model", bucket="day"))
    by_user = await store.report("team-a", query(since=since, until=until, group_by="user", bucket="hour"))
    by_tag = await store.report("team-a", query(since=since, until=until, group_by="tag:f"))
    for report in (by_model, by_user, by_tag):
        assert report.totals.events == len(inside)
        assert sum(g.totals.events for g in report.groups) == len(inside)
        assert sum(g.totals.cost_usd for g in report.groups) == report.totals.cost_usd
    assert {g.key["model"]: (g.totals.events, g.totals.cost_usd) for g in by_model.groups} == {
        model: (count, count * unit[model])
        for model in ("gpt-4o", "gpt-4o-mini")
        for count in [sum(1 for e in inside if e.model == model)]
    }
    assert {g.key["tag:f"]: g.totals.events for g in by_tag.groups} == {
        value: sum(1 for e in inside if e.tags["f"] == value) for value in ("v0", "v1")
    }
    assert {g.key["user"]: g.totals.events for g in by_user.groups} == {
        user: sum(1 for e in inside if e.user == user) for user in ("u0", "u1", "u2")
    }
    for group in by_model.groups + by_user.groups:
        assert sum(p.events for p in group.series) == group.totals.events
        assert sum(p.cost_usd for p in group.series) == group.totals.cost_usd
    assert by_model.totals.latency_p50_ms == 200.0


class CountingStore(TokenCostStore):
    """The real ClickHouse store, counting its inserts."""

    def __init__(self, clickhouse: ClickHouse) -> None:
        super().__init__(clickhouse)
        self.inserts = 0

    async def insert(self, columns: dict[str, list[Any]]) -> int:
        self.inserts += 1
        return await super().insert(columns)


async def test_batches_waiting_together_are_written_in_one_insert(clickhouse: ClickHouse) -> None:
    """Batches handed to the writer within its delay share one id lookup and one insert."""
    store = CountingStore(clickhouse)
    writer = TokenEventWriter(store, max_delay=0.2)
    results = await asyncio.gather(*(writer.write(rows("team-a", event(f"e{i}"))) for i in range(5)))
    assert [result.stored for result in results] == [1] * 5
    assert store.inserts == 1
    assert (await store.report("team-a", query())).totals.events == 5


async def test_a_full_batch_is_written_without_waiting_for_the_delay(clickhouse: ClickHouse) -> None:
    """`max_rows` waiting events are written at once, however long the delay."""
    store = CountingStore(clickhouse)
    writer = TokenEventWriter(store, max_delay=60, max_rows=3)
    batch = rows("team-a", event("e1"), event("e2"), event("e3"))
    result = await asyncio.wait_for(writer.write(batch), 10)
    assert (result.stored, store.inserts) == (3, 1)


@pytest.mark.parametrize("bucket", [None, "hour"])
async def test_a_limited_report_keeps_the_costliest_groups_and_says_it_was_cut(
    clickhouse: ClickHouse, bucket: str | None
) -> None:
    """limit=2 of 4 projects: the two costliest, in cost order, their points only, totals of all four."""
    store = TokenCostStore(clickhouse)
    spend = {"a": 1, "b": 4, "c": 3, "d": 2}  # events per project, each event costing the same
    events = [
        event(f"{project}{i}", T0 + timedelta(minutes=10 * i), project=project)
        for project, count in spend.items()
        for i in range(count)
    ]
    await TokenEventWriter(store).write(rows("team-limit", *events))
    report = await store.report("team-limit", query(group_by="project", limit=2, bucket=bucket))
    assert report.truncated
    assert [group.key["project"] for group in report.groups] == ["b", "c"]
    assert [group.totals.events for group in report.groups] == [4, 3]
    assert report.totals.events == 10
    if bucket is not None:
        for group in report.groups:
            assert sum(point.events for point in group.series) == group.totals.events
    whole = await store.report("team-limit", query(group_by="project", limit=4, bucket=bucket))
    assert not whole.truncated
    assert len(whole.groups) == 4
