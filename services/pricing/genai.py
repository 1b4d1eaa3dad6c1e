"""`PriceSource` backed by the data bundled in the `genai-prices` package (no network use).

genai-prices' usage semantics differ from ours: its ``input_tokens`` is the *total* prompt
(uncached + cache read + cache write) and it subtracts ``cache_read_tokens`` / ``cache_write_tokens``
from it when the model has a cache price; its ``output_tokens`` is the total output *including*
``output_reasoning_tokens``. Its long-context tiers (e.g. ">200k") look at that total input and
apply the tier rate to *all* tokens of the call. We convert our disjoint buckets accordingly.
"""

from __future__ import annotations

from collections.abc import Mapping
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

# Our provider names that genai-prices knows under another id.
DEFAULT_PROVIDER_ALIASES: Mapping[str, str] = {"gemini": "google"}

_TOKEN_PRICE_KEYS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")
# Units our `Usage` never reports (searches, 1-hour cache writes): they price at zero for our events.
_UNREPORTED_UNIT_KEYS = frozenset({"web_searches_kcount", "storage_searches_kcount", "cache_write_1h_mtok"})
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


def _token_totals(model_price: ModelPrice, usage: Usage) -> tuple[Decimal, Decimal]:
    """(input price incl. cache, output price) for a tokens-only price: what genai-prices' `calc_price`
    computes, without its per-call unit registry walk, which costs ~80 µs a call (12k calls/s) and
    would be the ingest pipeline's bottleneck. Tested equal to the library over the whole catalogue."""
    total_input = usage.total_input_tokens
    input_rate = _rate(model_price.input_mtok, total_input) or Decimal(0)
    read_rate = _rate(model_price.cache_read_mtok, total_input)
    write_rate = _rate(model_price.cache_write_mtok, total_input)
    output_rate = _rate(model_price.output_mtok, total_input) or Decimal(0)
    # Without a cache price genai-prices leaves cache tokens in the input count, at the input rate.
    uncached = usage.input_tokens
    input_total = Decimal(0)
    if read_rate is None:
        uncached += usage.cache_read_tokens
    else:
        input_total += usage.cache_read_tokens * read_rate
    if write_rate is None:
        uncached += usage.cache_write_tokens
    else:
        input_total += usage.cache_write_tokens * write_rate
    input_total += uncached * input_rate
    return input_total / TOKENS_PER_MTOK, usage.total_output_tokens * output_rate / TOKENS_PER_MTOK


def _rate(price: Decimal | TieredPrices | None, total_input_tokens: int) -> Decimal | None:
    """The per-MTok rate in force; a tier applies when total input is *above* its start (as genai-prices)."""
    if price is None or isinstance(price, Decimal):
        return price
    for tier in reversed(price.tiers):
        if total_input_tokens > tier.start:
            return tier.price
    return price.base


def _tier_label(model_price: ModelPrice, total_input_tokens: int) -> str | None:
    start: int | None = None
    for key in _TOKEN_PRICE_KEYS:
        price = getattr(model_price, key)
        if isinstance(price, TieredPrices):
            for tier in price.tiers:
                if total_input_tokens > tier.start and (start is None or tier.start > start):
                    start = tier.start
    if start is None:
        return None
    amount = f"{start // 1000}k" if start % 1000 == 0 else str(start)
    return f">{amount} input"


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
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.total_output_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
    )


class GenaiPricesSource(PriceSource):
    """Prices from genai-prices' bundled snapshot: dated prices, long-context tiers, cache prices."""

    def __init__(self, provider_aliases: Mapping[str, str] = DEFAULT_PROVIDER_ALIASES) -> None:
        self._aliases = {key.lower(): value for key, value in provider_aliases.items()}
        self._entries: dict[int, tuple[bool, str]] = {}

    def _entry(self, provider: Provider, model: ModelInfo, model_price: ModelPrice) -> tuple[bool, str]:
        """Per price entry, once: whether the fast path applies, and the price version string."""
        key = id(model_price)  # entries live as long as the bundled snapshot: the process
        known = self._entries.get(key)
        if known is None:
            version = (
                f"genai-prices=={genai_prices.__version__}:{provider.id}/{model.id}"
                f"@{_price_entry(model.prices, model_price)}"
            )
            known = self._entries[key] = (_tokens_only(model_price), version)
        return known

    def price(self, provider: str, model: str, usage: Usage, at: datetime) -> Price:
        require_aware(at)
        provider_id = self._aliases.get(provider.lower(), provider.lower())
        try:
            found_provider, found_model = _find(provider_id, model)
        except LookupError as exc:
            raise UnknownModel(provider, model) from exc
        model_price = found_model.get_prices(at)
        tokens_only, version = self._entry(found_provider, found_model, model_price)
        if tokens_only:
            input_price, output_price = _token_totals(model_price, usage)
            total_price = input_price + output_price
        else:
            calc = found_model.calc_price(to_genai_usage(usage), found_provider, genai_request_timestamp=at)
            input_price, output_price, total_price = calc.input_price, calc.output_price, calc.total_price

        total_input = usage.total_input_tokens
        input_rate = _rate(model_price.input_mtok, total_input) or Decimal(0)
        # genai-prices charges cache tokens at the input rate when the model has no cache price.
        read_rate = _rate(model_price.cache_read_mtok, total_input)
        write_rate = _rate(model_price.cache_write_mtok, total_input)
        read_rate = input_rate if read_rate is None else read_rate
        write_rate = input_rate if write_rate is None else write_rate
        cache_read = usage.cache_read_tokens * read_rate / TOKENS_PER_MTOK
        cache_write = usage.cache_write_tokens * write_rate / TOKENS_PER_MTOK

        return Price(
            total=quantize_usd(total_price),
            input=quantize_usd(input_price - cache_read - cache_write),
            output=quantize_usd(output_price),
            cache_read=quantize_usd(cache_read),
            cache_write=quantize_usd(cache_write),
            price_version=version,
            tier=_tier_label(model_price, total_input),
        )
