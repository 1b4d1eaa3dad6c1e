"""Exact prices from the real genai-prices data (0.2.x bundled snapshot).

Every expected amount is computed by hand below from the per-MTok prices in genai-prices' data:
amount = tokens * USD-per-MTok / 1_000_000.
"""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import genai_prices
import pytest

from services.pricing.genai import GenaiPricesSource
from services.pricing.interface import UnknownModel
from services.pricing.models import Price, Usage, from_anthropic, from_gemini, from_openai, quantize_usd

AT = datetime(2025, 10, 1, 12, tzinfo=UTC)
VERSION = f"genai-prices=={genai_prices.__version__}"


def d(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture(scope="module")
def source() -> GenaiPricesSource:
    return GenaiPricesSource()


def test_openai_gpt4o_cached_input(source: GenaiPricesSource) -> None:
    """gpt-4o: cached prompt tokens are billed at the cache-read price and not again as input."""
    usage = from_openai(
        {
            "prompt_tokens": 10_000,
            "completion_tokens": 1_000,
            "prompt_tokens_details": {"cached_tokens": 4_000},
        }
    )
    price = source.price("openai", "gpt-4o", usage, AT)
    # gpt-4o: input $2.5, cache read $1.25, output $10 per MTok
    assert price.input == d("6000") * d("2.5") / 1_000_000 == d("0.015")
    assert price.cache_read == d("4000") * d("1.25") / 1_000_000 == d("0.005")
    assert price.output == d("1000") * d("10") / 1_000_000 == d("0.01")
    assert price.cache_write == 0
    assert price.total == d("0.015") + d("0.005") + d("0.01") == d("0.03")
    assert price.currency == "USD"
    assert price.tier is None
    assert price.price_version == f"{VERSION}:openai/gpt-4o@base"


def test_anthropic_sonnet4_cache_read_and_write(source: GenaiPricesSource) -> None:
    """claude-sonnet-4: cache reads and cache writes each get their own price on top of uncached input."""
    usage = from_anthropic(
        {
            "input_tokens": 1_000,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 5_000,
            "output_tokens": 2_000,
        }
    )
    price = source.price("anthropic", "claude-sonnet-4-20250514", usage, AT)
    # claude-sonnet-4-0: input $3, cache read $0.3, cache write $3.75, output $15 per MTok
    assert price.input == d("1000") * d("3") / 1_000_000 == d("0.003")
    assert price.cache_read == d("20000") * d("0.3") / 1_000_000 == d("0.006")
    assert price.cache_write == d("5000") * d("3.75") / 1_000_000 == d("0.01875")
    assert price.output == d("2000") * d("15") / 1_000_000 == d("0.03")
    assert price.total == d("0.003") + d("0.006") + d("0.01875") + d("0.03") == d("0.05775")
    assert price.price_version == f"{VERSION}:anthropic/claude-sonnet-4-0@base"


def test_anthropic_long_context_tier_counts_cache_tokens(source: GenaiPricesSource) -> None:
    """claude-sonnet-4-5 doubles input prices above 200k prompt tokens, cache tokens included."""
    below = source.price(
        "anthropic",
        "claude-sonnet-4-5",
        Usage(input_tokens=150_000, cache_read_tokens=40_000, output_tokens=1_000),
        AT,
    )
    # 190,000 prompt tokens: base prices input $3, cache read $0.3, output $15
    assert below.tier is None
    assert below.total == (
        d("150000") * d("3") / 1_000_000 + d("40000") * d("0.3") / 1_000_000 + d("1000") * d("15") / 1_000_000
    )
    assert below.total == d("0.45") + d("0.012") + d("0.015") == d("0.477")

    above = source.price(
        "anthropic",
        "claude-sonnet-4-5",
        Usage(input_tokens=170_000, cache_read_tokens=40_000, output_tokens=1_000),
        AT,
    )
    # 210,000 prompt tokens (> 200k): input $6, cache read $0.6, output $22.5 for ALL tokens
    assert above.tier == ">200k input"
    assert above.input == d("170000") * d("6") / 1_000_000 == d("1.02")
    assert above.cache_read == d("40000") * d("0.6") / 1_000_000 == d("0.024")
    assert above.output == d("1000") * d("22.5") / 1_000_000 == d("0.0225")
    assert above.total == d("1.02") + d("0.024") + d("0.0225") == d("1.0665")


def test_gemini_pro_long_context_tier(source: GenaiPricesSource) -> None:
    """gemini-2.5-pro charges its >200k rates when the prompt exceeds 200k tokens."""
    price = source.price("google", "gemini-2.5-pro", Usage(input_tokens=250_000, output_tokens=1_000), AT)
    # > 200k: input $2.5 (base $1.25), output $15 (base $10) per MTok
    assert price.tier == ">200k input"
    assert price.total == d("250000") * d("2.5") / 1_000_000 + d("1000") * d("15") / 1_000_000 == d("0.64")
    at_limit = source.price("google", "gemini-2.5-pro", Usage(input_tokens=200_000, output_tokens=1_000), AT)
    # exactly 200k is not above the threshold: 200000 * 1.25 + 1000 * 10
    assert at_limit.tier is None
    assert (
        at_limit.total == d("200000") * d("1.25") / 1_000_000 + d("1000") * d("10") / 1_000_000 == d("0.26")
    )


def test_gemini_flash_thoughts_billed_as_output(source: GenaiPricesSource) -> None:
    """gemini-2.5-flash: thoughts tokens are billed at the output price, cached content at cache read."""
    usage = from_gemini(
        {
            "promptTokenCount": 12_000,
            "cachedContentTokenCount": 10_000,
            "candidatesTokenCount": 500,
            "thoughtsTokenCount": 1_500,
        }
    )
    price = source.price("gemini", "gemini-2.5-flash", usage, AT)  # "gemini" is an alias of genai's "google"
    # gemini-2.5-flash: input $0.3, cache read $0.03, output $2.5 per MTok
    assert price.input == d("2000") * d("0.3") / 1_000_000 == d("0.0006")
    assert price.cache_read == d("10000") * d("0.03") / 1_000_000 == d("0.0003")
    assert price.output == (d("500") + d("1500")) * d("2.5") / 1_000_000 == d("0.005")
    assert price.total == d("0.0006") + d("0.0003") + d("0.005") == d("0.0059")
    assert price.price_version == f"{VERSION}:google/gemini-2.5-flash@base"


def test_date_dependent_price(source: GenaiPricesSource) -> None:
    """claude-sonnet-4-6 dropped its long-context surcharge on 2026-03-13 (UTC): before and after differ."""
    usage = Usage(input_tokens=300_000, output_tokens=1_000)
    cutover = datetime(2026, 3, 13, tzinfo=UTC)
    before = source.price("anthropic", "claude-sonnet-4-6", usage, cutover - timedelta(seconds=1))
    after = source.price("anthropic", "claude-sonnet-4-6", usage, cutover)
    # before: tiered, 300k > 200k: input $6, output $22.5
    assert before.total == d("300000") * d("6") / 1_000_000 + d("1000") * d("22.5") / 1_000_000 == d("1.8225")
    assert before.tier == ">200k input"
    assert before.price_version == f"{VERSION}:anthropic/claude-sonnet-4-6@base"
    # from 2026-03-13: flat input $3, output $15
    assert after.total == d("300000") * d("3") / 1_000_000 + d("1000") * d("15") / 1_000_000 == d("0.915")
    assert after.tier is None
    assert after.price_version == f"{VERSION}:anthropic/claude-sonnet-4-6@from-2026-03-13"


def test_cutover_is_judged_in_utc(source: GenaiPricesSource) -> None:
    """An instant given in another time zone is compared with the price start date in UTC."""
    usage = Usage(input_tokens=300_000, output_tokens=1_000)
    # 2026-03-13 01:00 at UTC+2 is 2026-03-12 23:00 UTC: still the old, tiered price
    at = datetime(2026, 3, 13, 1, tzinfo=timezone(timedelta(hours=2)))
    assert source.price("anthropic", "claude-sonnet-4-6", usage, at).total == d("1.8225")


def test_amounts_are_quantized_to_1e12(source: GenaiPricesSource) -> None:
    """Every amount carries exactly 12 decimal places."""
    price = source.price("openai", "gpt-4o", Usage(input_tokens=1, output_tokens=1), AT)
    # 1 * 2.5 / 1e6 + 1 * 10 / 1e6 = 0.0000125
    assert price.total == d("0.0000125")
    for amount in (price.total, price.input, price.output, price.cache_read, price.cache_write):
        assert amount.as_tuple().exponent == -12


def test_unknown_model_raises(source: GenaiPricesSource) -> None:
    """A model or provider genai-prices does not know raises UnknownModel naming both."""
    with pytest.raises(UnknownModel) as info:
        source.price("openai", "no-such-model-xyz", Usage(input_tokens=1), AT)
    assert (info.value.provider, info.value.model) == ("openai", "no-such-model-xyz")
    with pytest.raises(UnknownModel):
        source.price("no-such-provider", "gpt-4o", Usage(input_tokens=1), AT)


def test_naive_datetime_is_rejected(source: GenaiPricesSource) -> None:
    """A naive `at` is ambiguous and raises ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        source.price("openai", "gpt-4o", Usage(input_tokens=1), datetime(2025, 1, 1))


def test_price_is_frozen(source: GenaiPricesSource) -> None:
    """A computed Price cannot be altered afterwards."""
    price = source.price("openai", "gpt-4o", Usage(input_tokens=1), AT)
    assert isinstance(price, Price)
    with pytest.raises(AttributeError):
        price.total = d("0")  # type: ignore[misc]


def _catalogue() -> list[tuple[str, str]]:
    from genai_prices import data_snapshot

    return [(p.id, m.id) for p in data_snapshot.get_snapshot().providers for m in p.models]


@pytest.mark.parametrize(
    "usage",
    [
        Usage(input_tokens=1234, output_tokens=567),
        Usage(input_tokens=150_000, cache_read_tokens=40_000, cache_write_tokens=20_000, output_tokens=900),
        Usage(input_tokens=7, cache_read_tokens=3, reasoning_tokens=11, output_tokens=2),
    ],
)
def test_fast_path_matches_the_library_on_every_catalogued_model(usage: Usage) -> None:
    """Our per-token shortcut gives genai-prices' own calc_price totals for every model it takes."""
    import genai_prices

    from services.pricing.genai import _find, _tokens_only, to_genai_usage

    at = datetime(2026, 6, 1, tzinfo=UTC)
    source = GenaiPricesSource(provider_aliases={})
    checked = 0
    for provider_id, model_id in _catalogue():
        try:
            _provider, model = _find(provider_id, model_id)
        except LookupError:  # a few catalogue ids are not matched by their own match rules
            continue
        if not _tokens_only(model.get_prices(at)):
            continue
        ours = source.price(provider_id, model_id, usage, at)
        theirs = genai_prices.calc_price(
            to_genai_usage(usage), model_id, provider_id=provider_id, genai_request_timestamp=at
        )
        assert ours.total == quantize_usd(theirs.total_price), (provider_id, model_id)
        assert ours.output == quantize_usd(theirs.output_price), (provider_id, model_id)
        checked += 1
    assert checked > 1000
