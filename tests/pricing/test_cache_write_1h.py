"""Anthropic's 1-hour cache writes: their own token kind, priced at the 1-hour rate (2x base input),
never counted twice with the 5-minute writes that share Anthropic's `cache_creation_input_tokens`.

Hand-computed amounts use the per-MTok prices of genai-prices' data, which follow Anthropic's pricing
page (docs.anthropic.com, "Pricing": 5-minute cache writes 1.25x and 1-hour writes 2x base input).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest

from services.pricing.genai import GenaiPricesSource, _find, _tokens_only, to_genai_usage
from services.pricing.models import Usage, from_anthropic, quantize_usd
from services.pricing.overrides import OverridingSource, PriceOverride

AT = datetime(2025, 10, 1, 12, tzinfo=UTC)
SOURCE = GenaiPricesSource()

# A Messages API usage block with both cache lifetimes: 5,000 written in all, 4,000 of them for 1 hour.
MIXED_WRITES = {
    "input_tokens": 1_000,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 5_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 4_000},
    "output_tokens": 100,
}


def test_anthropic_breakdown_splits_the_total_into_two_buckets() -> None:
    """cache_creation_input_tokens totals both lifetimes: the 1-hour part leaves the 5-minute bucket."""
    usage = from_anthropic(MIXED_WRITES)
    assert (usage.input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (
        1_000,
        1_000,
        4_000,
    )
    assert usage.total_input_tokens == 6_000


def test_anthropic_breakdown_without_the_total_and_without_any_breakdown() -> None:
    """A breakdown alone gives both buckets; a total alone is all 5-minute writes (the API's default)."""
    only_breakdown = from_anthropic(
        {"input_tokens": 1, "output_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 7}}
    )
    assert (only_breakdown.cache_write_tokens, only_breakdown.cache_write_1h_tokens) == (0, 7)
    only_total = from_anthropic({"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 9})
    assert (only_total.cache_write_tokens, only_total.cache_write_1h_tokens) == (9, 0)


def test_a_one_hour_part_larger_than_the_total_is_refused() -> None:
    """Inconsistent usage (1-hour writes above all writes) is an error, not a negative bucket."""
    with pytest.raises(ValueError, match="ephemeral_1h_input_tokens"):
        from_anthropic(
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation_input_tokens": 10,
                "cache_creation": {"ephemeral_1h_input_tokens": 11},
            }
        )


def test_one_hour_writes_are_priced_at_the_one_hour_rate() -> None:
    """claude-sonnet-4: 1,000 x $3 input + 1,000 x $3.75 (5 min) + 4,000 x $6 (1 h) + 100 x $15 output."""
    price = SOURCE.price("anthropic", "claude-sonnet-4-20250514", from_anthropic(MIXED_WRITES), AT)
    five_minutes = Decimal(1_000) * Decimal("3.75") / 1_000_000
    one_hour = Decimal(4_000) * Decimal(6) / 1_000_000
    assert Decimal(6) == 2 * Decimal(3)  # Anthropic: 1-hour writes cost twice the base input price
    assert price.cache_write == five_minutes + one_hour == Decimal("0.02775")
    assert price.input == Decimal("0.003")
    assert price.output == Decimal("0.0015")
    assert price.total == Decimal("0.003") + Decimal("0.02775") + Decimal("0.0015")


def test_one_hour_writes_count_towards_the_long_context_tier() -> None:
    """claude-sonnet-4-5 above 200k prompt tokens: 1-hour writes count in the total and take the tier rate."""
    usage = Usage(input_tokens=150_000, cache_write_1h_tokens=60_000, output_tokens=1_000)
    price = SOURCE.price("anthropic", "claude-sonnet-4-5", usage, AT)
    theirs = genai_prices.calc_price(
        to_genai_usage(usage), "claude-sonnet-4-5", provider_id="anthropic", genai_request_timestamp=AT
    )
    assert price.tier == ">200k input"
    assert price.total == quantize_usd(theirs.total_price)
    # The tier's 1-hour rate is above the base one (2 x the tier's $6 input).
    assert price.cache_write == Decimal(60_000) * Decimal(12) / 1_000_000


def test_our_fast_path_matches_the_library_with_one_hour_writes_on_every_catalogued_model() -> None:
    """With 1-hour writes in the usage, our per-token shortcut still equals genai-prices' calc_price."""
    from genai_prices import data_snapshot

    usage = Usage(
        input_tokens=50_000,
        cache_read_tokens=9_000,
        cache_write_tokens=3_000,
        cache_write_1h_tokens=7_000,
        output_tokens=800,
    )
    at = datetime(2026, 6, 1, tzinfo=UTC)
    source = GenaiPricesSource(provider_aliases={})
    checked = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model_info in provider.models:
            try:
                _provider, model = _find(provider.id, model_info.id)
            except LookupError:
                continue
            if not _tokens_only(model.get_prices(at)):
                continue
            ours = source.price(provider.id, model_info.id, usage, at)
            theirs = genai_prices.calc_price(
                to_genai_usage(usage), model_info.id, provider_id=provider.id, genai_request_timestamp=at
            )
            assert ours.total == quantize_usd(theirs.total_price), (provider.id, model_info.id)
            checked += 1
    assert checked > 1000


def test_overrides_price_one_hour_writes_at_their_cache_write_rate_and_keep_the_canonical_model() -> None:
    """A per-token override charges 1-hour writes its cache-write price; a discount keeps the base's model."""
    per_token = PriceOverride(
        provider="anthropic",
        model_pattern="claude-sonnet-4-20250514",
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        input_per_mtok=Decimal(1),
        output_per_mtok=Decimal(2),
        cache_write_per_mtok=Decimal(5),
    )
    price = OverridingSource(SOURCE, [per_token]).price(
        "anthropic", "claude-sonnet-4-20250514", Usage(cache_write_1h_tokens=1_000_000), AT
    )
    assert price.cache_write == price.total == Decimal(5)
    discount = PriceOverride(
        provider="openai",
        model_pattern="gpt-4o-mini*",
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        discount_percent=Decimal(10),
    )
    discounted = OverridingSource(SOURCE, [discount]).price(
        "openai", "gpt-4o-mini-2024-07-18", Usage(input_tokens=1), AT
    )
    assert discounted.model == "gpt-4o-mini"


def test_prices_name_the_model_the_source_matched() -> None:
    """A dated snapshot is priced as, and named by, the model genai-prices matched."""
    dated = SOURCE.price("openai", "gpt-4o-mini-2024-07-18", Usage(input_tokens=1), AT)
    plain = SOURCE.price("openai", "gpt-4o-mini", Usage(input_tokens=1), AT)
    assert dated.model == plain.model == "gpt-4o-mini"
    assert SOURCE.price("anthropic", "claude-sonnet-4-20250514", Usage(input_tokens=1), AT).model == (
        "claude-sonnet-4-0"
    )
