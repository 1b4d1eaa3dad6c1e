"""The alerts store in real PostgreSQL: tenant scoping, history paging and filters, the team purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import SecretStr

from services.alerts.dispatcher import AlertDispatcher
from services.alerts.store import InvalidCursor, purge_teams
from shared.crypto import DecryptionFailed
from shared.messages.alerts import (
    Alert,
    AlertHistoryEntry,
    AlertHistoryFilters,
    AlertKind,
    AlertSeverity,
    CreateAlertChannel,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from tests.alerts.conftest import budget_alert, new_team
from tests.alerts.receiver import Receiver


async def test_team_b_cannot_read_or_touch_team_a(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """Every channel, alert and delivery operation with team B's id misses team A's rows."""
    store = dispatcher.store
    team_a, team_b = new_team(), new_team()
    created = await dispatcher.create_channel(
        team_a, CreateAlertChannel(name="a-hook", config=WebhookChannelConfig(url=hook.url()))
    )
    channel_id = created.channel.id
    assert await dispatcher.raise_alert(team_a, budget_alert()) is True
    [entry] = (await dispatcher.history(team_a)).entries
    alert_id = entry.alert.id

    assert await store.list_channels(team_b) == []
    assert await store.channel(team_b, channel_id) is None
    assert await store.set_channel_enabled(team_b, channel_id, False) is None
    assert await store.delete_channel(team_b, channel_id) is False
    assert await dispatcher.test_channel(team_b, channel_id) is None
    assert await store.alert(team_b, alert_id) is None
    assert await store.deliveries(team_b, alert_id) == []
    assert (await dispatcher.history(team_b)).entries == []
    assert (await dispatcher.history(team_b, AlertHistoryFilters(channel_id=channel_id))).entries == []
    assert await store.claim_alert(team_b, alert_id, lease_seconds=30) == []

    # Team A's data is untouched by all of that, and B's alert with the same key is B's own.
    a_channel = await store.channel(team_a, channel_id)
    assert a_channel is not None
    assert a_channel.enabled
    assert len(await store.deliveries(team_a, alert_id)) == 1
    assert await dispatcher.raise_alert(team_b, budget_alert()) is True
    assert len(hook.requests) == 1  # B has no channels: nothing sent for B's alert


async def test_a_sealed_secret_does_not_open_on_another_row(
    dispatcher: AlertDispatcher, migrated_pool: asyncpg.Pool, slack: Receiver
) -> None:
    """A ciphertext copied onto another team's channel fails to decrypt: secrets are bound to their row."""
    team_a, team_b = new_team(), new_team()
    config = SlackChannelConfig(webhook_url=SecretStr(slack.url("/a")))
    a = await dispatcher.create_channel(team_a, CreateAlertChannel(name="s", config=config))
    b_config = SlackChannelConfig(webhook_url=SecretStr(slack.url("/b")))
    b = await dispatcher.create_channel(team_b, CreateAlertChannel(name="s", config=b_config))
    await migrated_pool.execute(
        "UPDATE monitoring.alert_channels SET sealed_secrets = "
        "(SELECT sealed_secrets FROM monitoring.alert_channels WHERE id = $1::uuid) WHERE id = $2::uuid",
        a.channel.id,
        b.channel.id,
    )
    with pytest.raises(DecryptionFailed):
        await dispatcher.store.channel(team_b, b.channel.id)


async def test_unknown_and_malformed_ids_are_not_found(dispatcher: AlertDispatcher) -> None:
    """Ids that are not UUIDs read as missing rather than failing in SQL."""
    team = new_team()
    assert await dispatcher.store.channel(team, "not-a-uuid") is None
    assert await dispatcher.delete_channel(team, "1; DROP TABLE x") is False
    assert await dispatcher.store.alert(team, "nope") is None


async def test_history_pages_newest_first_with_a_cursor(
    dispatcher: AlertDispatcher, migrated_pool: asyncpg.Pool
) -> None:
    """Five alerts read as pages of two, newest first, each alert once, then no cursor."""
    team = new_team()
    for n in range(5):
        await dispatcher.raise_alert(team, budget_alert(f"k{n}"))
    # Spread raised_at so the order is by time, not by insertion luck.
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(5):
        await migrated_pool.execute(
            "UPDATE monitoring.alerts SET raised_at = $1 WHERE team_id = $2::uuid AND dedup_key = $3",
            base + timedelta(minutes=n),
            team,
            f"k{n}",
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await dispatcher.history(team, limit=2, cursor=cursor)
        pages += 1
        seen += [entry.alert.dedup_key for entry in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["k4", "k3", "k2", "k1", "k0"]
    assert pages == 3
    with pytest.raises(InvalidCursor):
        await dispatcher.history(team, cursor="garbage")


async def test_history_filters(
    dispatcher: AlertDispatcher, hook: Receiver, migrated_pool: asyncpg.Pool
) -> None:
    """Filters by kind, severity, time range and channel narrow the history."""
    team = new_team()
    created = await dispatcher.create_channel(
        team, CreateAlertChannel(name="h", config=WebhookChannelConfig(url=hook.url()))
    )
    await dispatcher.raise_alert(team, budget_alert("budget"))
    await dispatcher.delete_channel(team, created.channel.id)
    anomaly = Alert(
        kind=AlertKind.SPEND_ANOMALY,
        severity=AlertSeverity.CRITICAL,
        title="Spend spike",
        text="Spend is 6 sigma above normal.",
        dedup_key="anomaly",
    )
    await dispatcher.raise_alert(team, anomaly)
    await migrated_pool.execute(
        "UPDATE monitoring.alerts SET raised_at = now() - interval '2 days' WHERE dedup_key = 'budget'"
    )

    def keys(page_entries: list[AlertHistoryEntry]) -> list[str]:
        return [entry.alert.dedup_key for entry in page_entries]

    by_kind = await dispatcher.history(team, AlertHistoryFilters(kind=AlertKind.SPEND_ANOMALY))
    assert keys(by_kind.entries) == ["anomaly"]
    by_severity = await dispatcher.history(team, AlertHistoryFilters(severity=AlertSeverity.WARNING))
    assert keys(by_severity.entries) == ["budget"]
    recent = await dispatcher.history(team, AlertHistoryFilters(since=datetime.now(UTC) - timedelta(days=1)))
    assert keys(recent.entries) == ["anomaly"]
    older = await dispatcher.history(team, AlertHistoryFilters(until=datetime.now(UTC) - timedelta(days=1)))
    assert keys(older.entries) == ["budget"]
    # The channel is deleted, so only its dispatch row could have matched; history rows lost the id.
    assert (await dispatcher.history(team, AlertHistoryFilters(channel_id=created.channel.id))).entries == []


async def test_history_filter_by_channel(
    dispatcher: AlertDispatcher, hook: Receiver, slack: Receiver
) -> None:
    """Filtering by channel returns only alerts delivered to that channel."""
    team = new_team()
    first = await dispatcher.create_channel(
        team, CreateAlertChannel(name="first", config=WebhookChannelConfig(url=hook.url()))
    )
    await dispatcher.raise_alert(team, budget_alert("before-second"))
    await dispatcher.create_channel(
        team, CreateAlertChannel(name="second", config=SlackChannelConfig(webhook_url=SecretStr(slack.url())))
    )
    await dispatcher.set_channel_enabled(team, first.channel.id, False)
    await dispatcher.raise_alert(team, budget_alert("second-only"))
    page = await dispatcher.history(team, AlertHistoryFilters(channel_id=first.channel.id))
    assert [entry.alert.dedup_key for entry in page.entries] == ["before-second"]


async def test_purge_removes_only_the_given_teams(
    dispatcher: AlertDispatcher, migrated_pool: asyncpg.Pool, hook: Receiver
) -> None:
    """purge_teams deletes a team's channels, alerts and deliveries and counts them; other teams stay."""
    gone, kept = new_team(), new_team()
    for team in (gone, kept):
        await dispatcher.create_channel(
            team, CreateAlertChannel(name="h", config=WebhookChannelConfig(url=hook.url()))
        )
        await dispatcher.raise_alert(team, budget_alert())
    async with migrated_pool.acquire() as conn, conn.transaction():
        deleted = await purge_teams(conn, [gone])
    # One delivery, one dispatch, one alert, one channel.
    assert deleted == 4
    assert await dispatcher.list_channels(gone) == []
    assert (await dispatcher.history(gone)).entries == []
    assert len(await dispatcher.list_channels(kept)) == 1
    [entry] = (await dispatcher.history(kept)).entries
    assert len(entry.deliveries) == 1
