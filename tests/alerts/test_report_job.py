"""The spend-report job end to end: token events in ClickHouse (chdb), channels and alerts in
PostgreSQL, reports mailed through a real SMTP server, once per team and period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.alerts.dispatcher import AlertDispatcher
from services.alerts.report_job import SpendReports
from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.messages.alerts import AlertKind, CreateAlertChannel, DeliveryStatus, EmailChannelConfig
from shared.messages.telemetry import TokenEvent, TokenEventColumns
from tests.alerts.conftest import new_team
from tests.email.smtp_server import SmtpServer

MONDAY = datetime(2026, 11, 23, 0, 10, tzinfo=UTC)
SUNDAY_NOON = datetime(2026, 11, 22, 12, tzinfo=UTC)


@pytest.fixture
def clickhouse(analytics: ClickHouse) -> ClickHouse:
    return analytics


async def spend(store: TokenCostStore, team: str, at: datetime, count: int, **fields: str) -> None:
    """`count` gpt-4o calls of 1,000 in + 100 out tokens ($0.0035 each) at `at`."""
    labels = "-".join(f"{key}.{value}" for key, value in sorted(fields.items()))
    events = [
        TokenEvent.model_validate(
            {
                "id": f"{team}-{at:%Y%m%dT%H%M%S}-{i}-{labels}",
                "timestamp": at,
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 100,
                **fields,
            }
        )
        for i in range(count)
    ]
    await TokenEventWriter(store).write(
        price_events(GenaiPricesSource(), team, "key1", at, TokenEventColumns.of(events))
    )


async def mail_channel(dispatcher: AlertDispatcher, team: str, to: str, *, enabled: bool = True) -> None:
    await dispatcher.create_channel(
        team, CreateAlertChannel(name="mail", config=EmailChannelConfig(recipients=[to]), enabled=enabled)
    )


async def test_reports_are_mailed_once_per_team_and_period(
    migrated_pool: asyncpg.Pool, clickhouse: ClickHouse, dispatcher: AlertDispatcher, smtp: SmtpServer
) -> None:
    """Monday: yesterday's and last week's reports reach the team with a channel, once, even when
    run again and by two replicas at once; teams without an enabled channel get nothing."""
    costs = TokenCostStore(clickhouse)
    team, silent, disabled = new_team(), new_team(), new_team()
    await mail_channel(dispatcher, team, "ops@example.com")
    await mail_channel(dispatcher, disabled, "off@example.com", enabled=False)
    for someone in (team, silent, disabled):
        await spend(costs, someone, SUNDAY_NOON, 2, project="search")
    await spend(costs, team, SUNDAY_NOON, 1, project="chat")
    await spend(costs, team, SUNDAY_NOON - timedelta(days=1), 1, project="search")
    await spend(costs, team, SUNDAY_NOON - timedelta(days=7), 6, project="search")
    await spend(costs, team, SUNDAY_NOON + timedelta(days=1), 5, project="search")  # Monday: not yet

    reports = SpendReports(migrated_pool, costs, dispatcher)
    assert await reports.run(now=MONDAY) == 2

    # The stdlib folds long subjects right after "Subject:"; unfolded, that is one leading space.
    mails = {m.message["Subject"].strip(): m for m in smtp.handler.received}
    assert {m.rcpt_tos[0] for m in mails.values()} == {"ops@example.com"}
    daily = mails["[INFO] Daily report for 2026-11-22 spend: $0.0105 (+200.0%)"]
    text = daily.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "$0.0105 over 3 calls; the day before: $0.0035 (+200.0%)" in text
    assert "  gpt-4o: $0.0105 (+200.0%)" in text
    assert "  search: $0.0070 (+100.0%)" in text
    assert "  chat: $0.0035 (new)" in text
    weekly = mails["[INFO] Weekly report for 2026-11-16 to 2026-11-22 spend: $0.0140 (-33.3%)"]
    assert "the week before: $0.0210 (-33.3%)" in weekly.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # Again, and by two replicas at once: nothing more for these periods.
    assert await reports.run(now=MONDAY + timedelta(hours=3)) == 0
    other = SpendReports(migrated_pool, costs, dispatcher)
    assert sum(await asyncio.gather(reports.run(now=MONDAY), other.run(now=MONDAY))) == 0
    assert len(smtp.handler.received) == 2
    # Tuesday's report raced by two replicas: one of them sends it.
    tuesday = MONDAY + timedelta(days=1)
    assert sum(await asyncio.gather(reports.run(now=tuesday), other.run(now=tuesday))) == 1
    assert len(smtp.handler.received) == 3

    page = await dispatcher.history(team)
    assert [(e.alert.kind, e.alert.dedup_key) for e in page.entries] == [
        (AlertKind.DAILY_REPORT, "report:daily:2026-11-23"),
        (AlertKind.WEEKLY_REPORT, "report:weekly:2026-11-16"),
        (AlertKind.DAILY_REPORT, "report:daily:2026-11-22"),
    ]
    assert all(d.status is DeliveryStatus.SENT for e in page.entries for d in e.deliveries)
    for other_team in (silent, disabled):
        assert (await dispatcher.history(other_team)).entries == []
