"""`PriceSource` backed by the data bundled in the `genai-prices` package (no network use).

genai-prices' usage semantics differ from ours: its ``input_tokens`` is the *total* prompt
(uncached + cache read + cache write) and it subtracts ``cache_read_tokens`` / ``cache_write_tokens``
from it when the model has a cache price; its ``output_tokens`` is the total output *including*
``output_reasoning_tokens``. Its ``cache_write_tokens`` are *all* cache writes and
``cache_write_1h_tokens`` the part of them written to the 1-hour cache, priced at
``cache_write_1h_mtok`` (at the cache write rate when the entry has none, as the library does). Its
long-context tiers (e.g. ">200k") look at that total input and apply the tier rate to *all* tokens of
the call. We convert our disjoint buckets accordingly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
)

from services.pricing.interface import PriceSource, UnknownModel, require_aware
from services.pricing.models import TOKENS_PER_MTOK, Price, Usage, quantize_usd
from services.pricing.supplement import SupplementIndex

# Our provider names that genai-prices knows under another id.
DEFAULT_PROVIDER_ALIASES: Mapping[str, str] = {"gemini": "google"}

_TOKEN_PRICE_KEYS = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_mtok",
)
# Units our `Usage` never reports (searches): they price at zero for our events.
_UNREPORTED_UNIT_KEYS = frozenset({"web_searches_kcount", "storage_searches_kcount"})
_FAST_PATH_KEYS = frozenset(_TOKEN_PRICE_KEYS) | _UNREPORTED_UNIT_KEYS


@lru_cache(maxsize=4096)
def _find(provider_id: str, model: str) -> tuple[Provider, ModelInfo]:
    """genai-prices' model matching (regexes over its data), once per provider and model name."""
    return data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)


def _tokens_only(model_price: ModelPrice) -> bool:
    """True when only per-token rates can apply to our usage, the case `_token_totals` computes exactly."""
    set_keys = {
        key for key, value in vars(model_price).items() if value is not None and not key.startswith("_")
    }
    return set_keys <= _FAST_PATH_KEYS


# One rate as (start, per-MTok price) pairs, highest start first; the base price starts at -1, so
# some pair always applies (a tier applies when total input is *above* its start, as genai-prices).
_Rate = tuple[tuple[int, Decimal], ...]


def _compile_rate(price: Decimal | TieredPrices | None) -> _Rate | None:
    if price is None:
        return None
    if isinstance(price, Decimal):
        return ((-1, price),)
    tiers = sorted(((tier.start, tier.price) for tier in price.tiers), reverse=True)
    return (*tiers, (-1, price.base))


def _rate_at(rate: _Rate, total_input_tokens: int) -> Decimal:
    for start, price in rate:
        if total_input_tokens > start:
            return price
    return rate[-1][1]


def _tier_label(start: int) -> str:
    amount = f"{start // 1000}k" if start % 1000 == 0 else str(start)
    return f">{amount} input"


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One genai-prices price entry made ready for arithmetic: read once from the library's objects
    (whose attribute access walks a unit registry, ~4 µs a read), then reused for every call."""

    tokens_only: bool
    version: str
    model: str  # the library's model id: the canonical name of every model name it matches
    input: _Rate
    cache_read: _Rate | None
    cache_write: _Rate | None
    cache_write_1h: _Rate | None
    output: _Rate
    # (start, label) of every tier of any rate, highest first.
    tiers: tuple[tuple[int, str], ...]

    @classmethod
    def of(
        cls, provider: Provider, model: ModelInfo, model_price: ModelPrice, version: str | None = None
    ) -> _Compiled:
        rates = {key: _compile_rate(getattr(model_price, key)) for key in _TOKEN_PRICE_KEYS}
        starts = {start for rate in rates.values() if rate for start, _ in rate if start >= 0}
        return cls(
            tokens_only=_tokens_only(model_price),
            version=version
            or (
                f"genai-prices=={genai_prices.__version__}:{provider.id}/{model.id}"
                f"@{_price_entry(model.prices, model_price)}"
            ),
            model=model.id,
            input=rates["input_mtok"] or ((-1, Decimal(0)),),
            cache_read=rates["cache_read_mtok"],
            cache_write=rates["cache_write_mtok"],
            cache_write_1h=rates["cache_write_1h_mtok"],
            output=rates["output_mtok"] or ((-1, Decimal(0)),),
            tiers=tuple((start, _tier_label(start)) for start in sorted(starts, reverse=True)),
        )

    def tier(self, total_input_tokens: int) -> str | None:
        for start, label in self.tiers:
            if total_input_tokens > start:
                return label
        return None


def _price_entry(prices: ModelPrice | list[ConditionalPrice], used: ModelPrice) -> str:
    """Name the price entry that was used: 'base', or the start date of a dated price."""
    if isinstance(prices, ModelPrice):
        return "base"
    for index, conditional in enumerate(prices):
        if conditional.prices is used:
            if conditional.constraint is None:
                return "base"
            if isinstance(conditional.constraint, StartDateConstraint):
                return f"from-{conditional.constraint.start_date.isoformat()}"
            return f"entry-{index}"
    return "resolved"


def to_genai_usage(usage: Usage) -> genai_prices.Usage:
    """Convert our disjoint buckets to genai-prices' totals-with-breakdowns."""
    return genai_prices.Usage(
        input_tokens=usage.total_input_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens + usage.cache_write_1h_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        output_tokens=usage.total_output_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
    )


class GenaiPricesSource(PriceSource):
    """Prices from genai-prices' bundled snapshot: dated prices, long-context tiers, cache prices;
    where `supplement` has an entry in force for the matched model, that entry's prices instead.
    Production builds it through `services.pricing.maintained.maintained_price_source`."""

    def __init__(
        self,
        provider_aliases: Mapping[str, str] = DEFAULT_PROVIDER_ALIASES,
        supplement: SupplementIndex | None = None,
    ) -> None:
        self._aliases = {key.lower(): value for key, value in provider_aliases.items()}
        self._supplement = supplement
        self._compiled: dict[int, _Compiled] = {}

    def _entry(
        self, provider: Provider, model: ModelInfo, model_price: ModelPrice, version: str | None = None
    ) -> _Compiled:
        # Entries live as long as the bundled snapshot (the process) or the supplement this source holds.
        key = id(model_price)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _Compiled.of(provider, model, model_price, version)
        return compiled

    def price(self, provider: str, model: str, usage: Usage, at: datetime) -> Price:
        require_aware(at)
        provider_id = self._aliases.get(provider.lower(), provider.lower())
        try:
            found_provider, found_model = _find(provider_id, model)
        except LookupError as exc:
            raise UnknownModel(provider, model) from exc
        supplement = self._supplement
        own = None if supplement is None else supplement.find(found_provider.id, found_model.id, at)
        if own is None:
            entry = self._entry(found_provider, found_model, found_model.get_prices(at))
        else:
            # Supplement prices hold per-token units only, so they always take the exact path below.
            entry = self._entry(found_provider, found_model, own.model_price, own.version)
        total_input = usage.total_input_tokens
        input_rate = _rate_at(entry.input, total_input)
        # genai-prices charges cache tokens at the input rate when the model has no cache price, and
        # 1-hour cache writes at the cache write rate when it has no 1-hour price.
        read_rate = input_rate if entry.cache_read is None else _rate_at(entry.cache_read, total_input)
        write_rate = input_rate if entry.cache_write is None else _rate_at(entry.cache_write, total_input)
        uncached = usage.input_tokens * input_rate / TOKENS_PER_MTOK
        cache_read = usage.cache_read_tokens * read_rate / TOKENS_PER_MTOK
        cache_write = usage.cache_write_tokens * write_rate / TOKENS_PER_MTOK
        if usage.cache_write_1h_tokens:  # rare: skipped, the hot path costs what it did before
            write_1h_rate = (
                write_rate if entry.cache_write_1h is None else _rate_at(entry.cache_write_1h, total_input)
            )
            cache_write += usage.cache_write_1h_tokens * write_1h_rate / TOKENS_PER_MTOK
        if entry.tokens_only:
            # What genai-prices' `calc_price` computes for a tokens-only price, without its per-call
            # unit registry walk (~80 µs a call): tested equal to the library over its whole catalogue.
            output_rate = _rate_at(entry.output, total_input)
            output_price = (usage.output_tokens + usage.reasoning_tokens) * output_rate / TOKENS_PER_MTOK
            input_price = uncached + cache_read + cache_write
            total_price = input_price + output_price
        else:
            calc = found_model.calc_price(to_genai_usage(usage), found_provider, genai_request_timestamp=at)
            input_price, output_price, total_price = calc.input_price, calc.output_price, calc.total_price
        return Price(
            total=quantize_usd(total_price),
            input=quantize_usd(input_price - cache_read - cache_write),
            output=quantize_usd(output_price),
            cache_read=quantize_usd(cache_read),
            cache_write=quantize_usd(cache_write),
            price_version=entry.version,
            tier=entry.tier(total_input),
            model=entry.model,
        )
