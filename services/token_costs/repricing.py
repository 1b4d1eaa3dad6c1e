"""Re-pricing of stored events (pure: no I/O): new price revisions and the rollup corrections they need.

`token_events` keeps every revision of an event (ReplacingMergeTree on `price_revision`, read with
FINAL), but the hourly rollups are fed by first-revision rows only. So a re-priced event is written
again at revision + 1, and the difference between its latest and new cost goes into each rollup as a
correction row: same dimensions, zero events and tokens, the cost delta. Sums over the rollups then
equal sums over the latest revisions exactly.

`unpriced_events` is an unsigned counter: an event that gains a price takes one off it by adding
2**64 - 1, which ClickHouse's UInt64 sums wrap to exactly -1 (merges use the same wrapping sum).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.pricing.interface import PriceSource
from services.pricing.models import Usage
from services.token_costs.rows import COLUMNS, PRICE_COLUMNS, pricing

STORED_COLUMNS: tuple[str, ...] = (*COLUMNS, "price_revision")
HOURLY_DIMENSIONS: tuple[str, ...] = (
    "team_id",
    "hour",
    "provider",
    "model",
    "reported_model",
    "project",
    "user",
    "prompt_name",
    "prompt_version",
    "status",
    "api_key_id",
)
TAGS_DIMENSIONS: tuple[str, ...] = ("team_id", "hour", "tag_key", "tag_value")
_FIGURES: tuple[str, ...] = (
    "events",
    "unpriced_events",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
)
# The latency state is left out of the insert: its default, an empty state, adds nothing.
HOURLY_COLUMNS: tuple[str, ...] = (*HOURLY_DIMENSIONS, *_FIGURES)
TAGS_COLUMNS: tuple[str, ...] = (*TAGS_DIMENSIONS, *_FIGURES)
_UINT64 = 2**64
_ZERO = Decimal(0)
_PRICE_INDEX = {name: STORED_COLUMNS.index(name) for name in PRICE_COLUMNS}


@dataclass(frozen=True, slots=True)
class Change:
    """One event whose price changed: its new row (STORED_COLUMNS order) and what moved."""

    row: tuple[Any, ...]
    hourly_key: tuple[Any, ...]
    tags: Mapping[str, str]
    cost_delta: Decimal
    unpriced_delta: int  # -1: gained a price, +1: lost it, 0: still (un)priced


@dataclass(frozen=True, slots=True)
class Outcome:
    """A chunk re-priced: the changes to write, and the chunk's totals before and after."""

    changes: list[Change]
    before: Decimal
    after: Decimal


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def pricing_of(source: PriceSource, stored: Mapping[str, Any]) -> tuple[Any, ...]:
    """The PRICE_COLUMNS values `source` gives a stored event (unpriced, with the reason, when it has
    no price), as the ingest path computes them."""
    usage = Usage(
        input_tokens=int(stored["input_tokens"]),
        output_tokens=int(stored["output_tokens"]),
        cache_read_tokens=int(stored["cache_read_tokens"]),
        cache_write_tokens=int(stored["cache_write_tokens"]),
        reasoning_tokens=int(stored["reasoning_tokens"]),
        cache_write_1h_tokens=int(stored.get("cache_write_1h_tokens") or 0),
    )
    # Prices are looked up by the name the client reported (`model` is the source's canonical name).
    model = stored.get("model_raw") or stored["model"]
    return pricing(source, stored["provider"], model, usage, stored["timestamp"])


def _hourly_value(stored: Mapping[str, Any], name: str) -> Any:
    if name == "hour":
        return hour_of(stored["timestamp"])
    if name == "reported_model":  # the hourly rollup's reported name: '' when it is the canonical one
        raw = stored.get("model_raw") or stored["model"]
        return "" if raw == stored["model"] else raw
    return stored[name]


def reprice(source: PriceSource, stored_rows: Iterable[Mapping[str, Any]]) -> Outcome:
    """Re-price the latest revisions of stored events; only those whose pricing differs change."""
    changes: list[Change] = []
    before = after = _ZERO
    for stored in stored_rows:
        old = tuple(stored[name] for name in PRICE_COLUMNS)
        new = pricing_of(source, stored)
        before += old[1]
        after += new[1]
        if old == new:
            continue
        values = [stored[name] for name in STORED_COLUMNS]
        for name, value in zip(PRICE_COLUMNS, new, strict=True):
            values[_PRICE_INDEX[name]] = value
        values[-1] = int(stored["price_revision"]) + 1
        hourly_key = tuple(_hourly_value(stored, name) for name in HOURLY_DIMENSIONS)
        changes.append(
            Change(
                row=tuple(values),
                hourly_key=hourly_key,
                tags=dict(stored["tags"] or {}),
                cost_delta=new[1] - old[1],
                unpriced_delta=int(not new[0]) - int(not old[0]),
            )
        )
    return Outcome(changes, before, after)


def _figures(cost: Decimal, unpriced: int) -> tuple[Any, ...]:
    return (0, unpriced % _UINT64, 0, 0, 0, 0, 0, 0, cost)


def _summed(keyed: Iterable[tuple[tuple[Any, ...], Decimal, int]]) -> list[tuple[Any, ...]]:
    sums: dict[tuple[Any, ...], tuple[Decimal, int]] = {}
    for key, cost, unpriced in keyed:
        total_cost, total_unpriced = sums.get(key, (_ZERO, 0))
        sums[key] = (total_cost + cost, total_unpriced + unpriced)
    return [
        (*key, *_figures(cost, unpriced))
        for key, (cost, unpriced) in sums.items()
        if cost != 0 or unpriced != 0
    ]


def hourly_corrections(changes: Sequence[Change]) -> list[tuple[Any, ...]]:
    """Correction rows of `token_costs_hourly` (HOURLY_COLUMNS order), one per dimension key."""
    return _summed((change.hourly_key, change.cost_delta, change.unpriced_delta) for change in changes)


def tag_corrections(changes: Sequence[Change]) -> list[tuple[Any, ...]]:
    """Correction rows of `token_costs_tags_hourly` (TAGS_COLUMNS order), one per tag and hour."""
    return _summed(
        ((change.hourly_key[0], change.hourly_key[1], key, value), change.cost_delta, change.unpriced_delta)
        for change in changes
        for key, value in change.tags.items()
    )
