"""Priced rows of the `token_events` table, from accepted events, held column-wise (pure: no I/O).

An event whose model has no known price is still stored, with `priced = false`, zero cost and the
reason: its tokens count, and re-pricing can fill the cost in once the team adds an override.

`model` is the model as the price source names it (genai-prices' `gpt-4o-mini` for
`gpt-4o-mini-2024-07-18` and `gpt-4o-mini` alike), what costs are grouped by; `model_raw` is the
name the client reported, what prices are looked up by (re-pricing, overrides). An event the source
prices under the name given, or cannot price, has the same name in both. The canonical name is
fixed when the event is first stored: the rollups take first revisions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.pricing.interface import PriceSource, PricingError
from services.pricing.memo import PricedOnce
from services.pricing.models import Price, Usage
from shared.messages.telemetry import TokenEventColumns

COLUMNS: tuple[str, ...] = (
    "team_id",
    "event_id",
    "timestamp",
    "received_at",
    "provider",
    "model",
    "model_raw",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
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
    "estimated_counts",
)
# The columns a price fills in (the rest come from the event), in `pricing`'s order.
PRICE_COLUMNS: tuple[str, ...] = (
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
# Columns copied from the event's field of the same name, as they are.
_EVENT_FIELDS = (
    "timestamp",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "latency_ms",
    "tags",
    "estimated_counts",
)
# Optional text fields, stored as '' when absent.
_OPTIONAL_TEXT = ("user", "project", "prompt_name", "prompt_version", "request_id")


@dataclass(slots=True)
class PricedBatch:
    """Priced events of one team held column-wise (COLUMNS -> values), the shape of the insert: no
    per-row objects between pricing and ClickHouse."""

    team_id: str
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.columns["event_id"])

    @property
    def event_ids(self) -> list[str]:
        return self.columns["event_id"]

    @property
    def unpriced(self) -> int:
        return self.columns["priced"].count(False)

    def select(self, indices: Sequence[int]) -> PricedBatch:
        """The events at `indices`, in that order."""
        return PricedBatch(
            self.team_id, {name: [values[i] for i in indices] for name, values in self.columns.items()}
        )


def merge(batches: Sequence[PricedBatch]) -> dict[str, list[Any]]:
    """The columns of several batches (of any teams) one after the other."""
    merged: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for batch in batches:
        for name, values in batch.columns.items():
            merged[name].extend(values)
    return merged


def priced_call(
    source: PriceSource, provider: str, model: str, usage: Usage, at: datetime
) -> tuple[tuple[Any, ...], str]:
    """The PRICE_COLUMNS values of one call (its price, or unpriced with cost 0 and the reason), and
    its model as the source names it (`model` itself when the source has no other name for it)."""
    try:
        price: Price | PricingError = source.price(provider, model, usage, at)
    except PricingError as error:
        price = error
    return price_columns(price, model)


def price_columns(price: Price | PricingError, model: str) -> tuple[tuple[Any, ...], str]:
    """The PRICE_COLUMNS values of a call's price (or of its pricing error), and its canonical model."""
    if isinstance(price, PricingError):
        return (False, _ZERO, _ZERO, _ZERO, _ZERO, _ZERO, "", "", str(price)), model
    columns = (
        True,
        price.total,
        price.input,
        price.output,
        price.cache_read,
        price.cache_write,
        price.price_version,
        price.tier or "",
        "",
    )
    return columns, price.model or model


def pricing(source: PriceSource, provider: str, model: str, usage: Usage, at: datetime) -> tuple[Any, ...]:
    """The PRICE_COLUMNS values of one call: its price, or unpriced (cost 0) with the reason."""
    return priced_call(source, provider, model, usage, at)[0]


def price_events(
    source: PriceSource,
    team_id: str,
    api_key_id: str | None,
    received_at: datetime,
    events: TokenEventColumns,
    memo: PricedOnce | None = None,
) -> PricedBatch:
    """The rows of accepted events, priced by `source`; an event whose price the budget admission of
    this process worked out with the same source and inputs takes it from `memo` (priced once)."""
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    priced = [columns[name] for name in PRICE_COLUMNS]
    canonical = columns["model"]
    calls = zip(
        events.id,
        events.provider,
        events.model,
        events.timestamp,
        events.input_tokens,
        events.output_tokens,
        events.cache_read_tokens,
        events.cache_write_tokens,
        events.cache_write_1h_tokens,
        events.reasoning_tokens,
        strict=True,
    )
    for event_id, provider, model, timestamp, uncached, output, read, write, write_1h, reasoning in calls:
        known = None
        if memo is not None:
            call = (provider, model, timestamp, uncached, output, read, write, write_1h, reasoning)
            known = memo.take(team_id, event_id, source, call)
        if known is None:
            usage = Usage(
                input_tokens=uncached,
                output_tokens=output,
                cache_read_tokens=read,
                cache_write_tokens=write,
                reasoning_tokens=reasoning,
                cache_write_1h_tokens=write_1h,
            )
            price_values, canonical_model = priced_call(source, provider, model, usage, timestamp)
        else:
            price_values, canonical_model = price_columns(known, model)
        for column, value in zip(priced, price_values, strict=True):
            column.append(value)
        canonical.append(canonical_model)
    count = len(events)
    columns["model_raw"] = events.model
    columns["team_id"] = [team_id] * count
    columns["received_at"] = [received_at] * count
    columns["api_key_id"] = [api_key_id or ""] * count
    columns["event_id"] = events.id
    for name in _EVENT_FIELDS:
        columns[name] = getattr(events, name)
    columns["status"] = [status.value for status in events.status]
    for name in _OPTIONAL_TEXT:
        columns[name] = [value or "" for value in getattr(events, name)]
    return PricedBatch(team_id, columns)
