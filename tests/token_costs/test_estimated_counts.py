"""Which counts a reporter had to estimate travels with the event, from the bus to ClickHouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.pricing.genai import GenaiPricesSource
from services.token_costs.rows import price_events
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.clickhouse import ClickHouse
from shared.messages.telemetry import TokenEvent, TokenEventColumns, TokenEventIn, TokenEventsAccepted

DAY = datetime(2026, 3, 3, tzinfo=UTC)
PRICES = GenaiPricesSource()
TEAM = "team-estimated"


def event(event_id: str, **fields: Any) -> TokenEvent:
    values: dict[str, Any] = {
        "id": event_id,
        "timestamp": DAY + timedelta(hours=9),
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
    }
    return TokenEvent.model_validate(values | fields)


async def test_estimated_counts_are_stored_with_the_event(clickhouse: ClickHouse) -> None:
    """The flag is a column of token_events ([] when every count was reported)."""
    events = [event("flagged", estimated_counts=["cache_read_tokens"]), event("exact")]
    batch = price_events(PRICES, TEAM, None, DAY, TokenEventColumns.of(events))
    await TokenEventWriter(TokenCostStore(clickhouse)).write(batch)
    rows = await clickhouse.query(
        "SELECT event_id, estimated_counts FROM token_events WHERE team_id = {team:String} ORDER BY event_id",
        {"team": TEAM},
    )
    assert [(row["event_id"], list(row["estimated_counts"])) for row in rows] == [
        ("exact", []),
        ("flagged", ["cache_read_tokens"]),
    ]


def test_columns_published_before_the_flag_still_decode() -> None:
    """A bus message of an older edge (no estimated_counts column) decodes with nothing estimated."""
    columns = TokenEventColumns.of([event("a"), event("b")]).model_dump(mode="json")
    del columns["estimated_counts"]
    message = TokenEventsAccepted.model_validate({"received_at": DAY.isoformat(), "events": columns})
    assert message.events.estimated_counts == [[], []]


def test_only_token_fields_can_be_flagged() -> None:
    """The flag names token fields only: anything else is refused like any invalid field."""
    with pytest.raises(ValidationError, match="estimated_counts"):
        TokenEventIn(provider="openai", model="gpt-4o", estimated_counts=["cost_usd"])  # type: ignore[list-item]
