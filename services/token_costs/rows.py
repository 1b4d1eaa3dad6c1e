"""Priced rows of the `token_events` table, from accepted events (pure: no I/O).

An event whose model has no known price is still stored, with `priced = false`, zero cost and the
reason: its tokens count, and re-pricing can fill the cost in once the team adds an override.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.pricing.interface import PriceSource, PricingError
from services.pricing.models import Usage
from shared.messages.telemetry import TokenEvent

COLUMNS: tuple[str, ...] = (
    "team_id",
    "event_id",
    "timestamp",
    "received_at",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "latency_ms",
    "status",
    "user",
    "project",
    "prompt_name",
    "prompt_version",
    "request_id",
    "api_key_id",
    "tags",
    "priced",
    "cost_usd",
    "input_cost_usd",
    "output_cost_usd",
    "cache_read_cost_usd",
    "cache_write_cost_usd",
    "price_version",
    "price_tier",
    "pricing_error",
)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PricedRow:
    team_id: str
    event_id: str
    timestamp: datetime
    priced: bool
    cost_usd: Decimal
    values: tuple[Any, ...]  # in COLUMNS order


def usage_of(event: TokenEvent) -> Usage:
    # Validating five ints in pydantic-core is faster than model_construct's Python loop.
    return Usage(
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens,
        reasoning_tokens=event.reasoning_tokens,
    )


def price_rows(
    source: PriceSource,
    team_id: str,
    api_key_id: str | None,
    received_at: datetime,
    events: Sequence[TokenEvent],
) -> list[PricedRow]:
    rows: list[PricedRow] = []
    for event in events:
        try:
            price = source.price(event.provider, event.model, usage_of(event), event.timestamp)
        except PricingError as error:
            priced, parts, version, tier, problem = False, (_ZERO,) * 5, "", "", str(error)
        else:
            priced, version, tier, problem = True, price.price_version, price.tier or "", ""
            parts = (price.total, price.input, price.output, price.cache_read, price.cache_write)
        values = (
            team_id,
            event.id,
            event.timestamp,
            received_at,
            event.provider,
            event.model,
            event.input_tokens,
            event.output_tokens,
            event.cache_read_tokens,
            event.cache_write_tokens,
            event.reasoning_tokens,
            event.latency_ms,
            event.status.value,
            event.user or "",
            event.project or "",
            event.prompt_name or "",
            event.prompt_version or "",
            event.request_id or "",
            api_key_id or "",
            event.tags,
            priced,
            *parts,
            version,
            tier,
            problem,
        )
        rows.append(PricedRow(team_id, event.id, event.timestamp, priced, parts[0], values))
    return rows
