"""The anomaly job over real ClickHouse rollups: an injected spike is found, stored, alerted once."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.alerts.channels import ChannelDependencies
from services.alerts.dispatcher import AlertDispatcher
from services.alerts.http import HttpPoster
from services.alerts.retry import RetryPolicy
from services.alerts.store import AlertStore
from services.anomalies.detector import AnomalyDetector
from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.bus.context import MessageContext
from shared.config.models import EmailSettings
from shared.db.clickhouse import ClickHouse
from shared.email import EmailSender
from shared.messages.envelope import Principal
from shared.messages.permissions import Role
from shared.messages.telemetry import AnomalyQuery, TokenEvent, TokenEventColumns

NOW = datetime(2026, 11, 25, 12, 3, tzinfo=UTC)
LAST_HOUR = datetime(2026, 11, 25, 11, tzinfo=UTC)


async def hourly_calls(clickhouse: ClickHouse, team: str, *, spike: float | None) -> None:
    """Six weeks of one gpt-4o call an hour whose size follows a daily cycle with 5 % noise;
    the last hour `spike` times its usual size when given."""
    rng = random.Random(7)
    events = []
    for hours_back in range(42 * 24, 0, -1):
        at = LAST_HOUR - timedelta(hours=hours_back - 1)
        usual = 400_000 * (1.5 + math.sin(2 * math.pi * at.hour / 24))
        tokens = usual * (1 + rng.gauss(0, 0.05))
        if hours_back == 1 and spike is not None:
            tokens = usual * spike
        events.append(
            TokenEvent.model_validate(
                {
                    "id": f"h{hours_back}",
                    "timestamp": at + timedelta(minutes=10),
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": int(tokens),
                }
            )
        )
    await TokenEventWriter(TokenCostStore(clickhouse)).write(
        price_events(GenaiPricesSource(), team, None, NOW, TokenEventColumns.of(events))
    )


def dispatcher(pool: asyncpg.Pool) -> AlertDispatcher:
    deps = ChannelDependencies(email=EmailSender(EmailSettings()), http=HttpPoster(allow_private=False))
    return AlertDispatcher(AlertStore(pool, None), deps, RetryPolicy(), allow_private_targets=False)


def as_team(team: str) -> MessageContext:
    return MessageContext(principal=Principal(team_id=team, roles=(Role.VIEWER.value,)))


async def test_a_spike_is_found_once_and_alerted(migrated_pool: asyncpg.Pool, analytics: ClickHouse) -> None:
    """Four times the usual spend in the last hour: spend and token anomalies, stored and alerted once."""
    team = str(uuid.uuid4())
    await hourly_calls(analytics, team, spike=4.0)
    alerts = dispatcher(migrated_pool)
    detector = AnomalyDetector(migrated_pool, analytics, alerts)
    assert await detector.run(NOW) == 2
    assert await detector.run(NOW + timedelta(minutes=5)) == 0
    found = await detector.list(AnomalyQuery(since=LAST_HOUR, until=NOW), as_team(team))
    assert {(a.metric, a.direction, a.hour) for a in found.anomalies} == {
        ("cost_usd", "spike", LAST_HOUR),
        ("tokens", "spike", LAST_HOUR),
    }
    history = await alerts.history(team)
    assert sorted(e.alert.kind.value for e in history.entries) == ["spend_anomaly", "spend_anomaly"]
    other = await detector.list(AnomalyQuery(since=LAST_HOUR, until=NOW), as_team(str(uuid.uuid4())))
    assert other.anomalies == []


async def test_a_normal_daily_peak_is_not_an_anomaly(
    migrated_pool: asyncpg.Pool, analytics: ClickHouse
) -> None:
    """The same six weeks without a spike: the daily cycle's peaks raise nothing."""
    team = str(uuid.uuid4())
    await hourly_calls(analytics, team, spike=None)
    detector = AnomalyDetector(migrated_pool, analytics, dispatcher(migrated_pool))
    assert await detector.run(NOW) == 0
