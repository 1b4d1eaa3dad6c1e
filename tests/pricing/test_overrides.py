"""Team overrides: precedence, effective dates, discounts, and how they mark price_version."""

from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
import pytest
from pydantic import ValidationError

from services.pricing.genai import GenaiPricesSource
from services.pricing.models import Usage
from services.pricing.overrides import OverridingSource, PriceOverride

JAN = datetime(2025, 1, 1, tzinfo=UTC)
FEB = datetime(2025, 2, 1, tzinfo=UTC)
MAR = datetime(2025, 3, 1, tzinfo=UTC)
# one MTok of uncached input and one of output: the total is the input rate plus the output rate
ONE_MTOK_EACH = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


def override(pattern: str, input_rate: str, output_rate: str, **kwargs: object) -> PriceOverride:
    return PriceOverride.model_validate(
        {
            "provider": "openai",
            "model_pattern": pattern,
            "effective_from": JAN,
            "input_per_mtok": Decimal(input_rate),
            "output_per_mtok": Decimal(output_rate),
            **kwargs,
        }
    )


def test_exact_model_beats_glob_even_if_glob_is_newer() -> None:
    """An exact model name wins over a glob, whatever their start dates."""
    source = OverridingSource(
        GenaiPricesSource(),
        [
            override("gpt-4o", "2", "4", id="exact"),
            override("gpt-4o*", "1", "1", id="glob", effective_from=FEB),
        ],
    )
    assert source.price("openai", "gpt-4o", ONE_MTOK_EACH, MAR).price_version == "override:exact"
    mini = source.price("openai", "gpt-4o-mini", ONE_MTOK_EACH, MAR)
    assert mini.price_version == "override:glob"
    assert mini.total == Decimal("1") + Decimal("1")


def test_later_effective_from_wins_among_equals() -> None:
    """Between two exact overrides in force, the one that started later wins."""
    source = OverridingSource(
        GenaiPricesSource(),
        [override("gpt-4o", "3", "3", id="feb", effective_from=FEB), override("gpt-4o", "2", "2", id="jan")],
    )
    assert source.price("openai", "gpt-4o", ONE_MTOK_EACH, MAR).price_version == "override:feb"
    assert source.price("openai", "gpt-4o", ONE_MTOK_EACH, JAN).price_version == "override:jan"


def test_effective_window_before_within_after() -> None:
    """An override applies from effective_from (inclusive) to effective_to (exclusive), else the base."""
    source = OverridingSource(
        GenaiPricesSource(),
        [override("gpt-4o", "1", "1", id="feb-only", effective_from=FEB, effective_to=MAR)],
    )
    base_version = f"genai-prices=={genai_prices.__version__}:openai/gpt-4o@base"
    before = source.price("openai", "gpt-4o", ONE_MTOK_EACH, JAN)
    within = source.price("openai", "gpt-4o", ONE_MTOK_EACH, FEB)
    after = source.price("openai", "gpt-4o", ONE_MTOK_EACH, MAR)
    # base gpt-4o: 1 MTok * $2.5 + 1 MTok * $10
    assert (before.price_version, before.total) == (base_version, Decimal("2.5") + Decimal("10"))
    assert (within.price_version, within.total) == ("override:feb-only", Decimal("1") + Decimal("1"))
    assert (after.price_version, after.total) == (base_version, Decimal("12.5"))


def test_other_provider_is_not_overridden() -> None:
    """An override for one provider does not touch the same model name at another provider."""
    source = OverridingSource(GenaiPricesSource(), [override("*", "0", "0", id="free")])
    price = source.price("anthropic", "claude-sonnet-4-0", ONE_MTOK_EACH, MAR)
    assert price.price_version.startswith("genai-prices==")
    assert price.total == Decimal("3") + Decimal("15")  # claude-sonnet-4-0: $3 in, $15 out per MTok


def test_per_token_override_with_cache_prices() -> None:
    """Per-token overrides price each bucket; reasoning is output; cache defaults to the input rate."""
    usage = Usage(
        input_tokens=2_000,
        cache_read_tokens=10_000,
        cache_write_tokens=4_000,
        output_tokens=300,
        reasoning_tokens=700,
    )
    with_cache = override(
        "gpt-4o", "2", "8", id="c", cache_read_per_mtok=Decimal("0.5"), cache_write_per_mtok=Decimal("2.5")
    )
    price = OverridingSource(GenaiPricesSource(), [with_cache]).price("openai", "gpt-4o", usage, MAR)
    assert price.input == Decimal(2_000) * 2 / 1_000_000 == Decimal("0.004")
    assert price.cache_read == Decimal(10_000) * Decimal("0.5") / 1_000_000 == Decimal("0.005")
    assert price.cache_write == Decimal(4_000) * Decimal("2.5") / 1_000_000 == Decimal("0.01")
    assert price.output == Decimal(300 + 700) * 8 / 1_000_000 == Decimal("0.008")
    assert price.total == Decimal("0.027")
    no_cache = OverridingSource(GenaiPricesSource(), [override("gpt-4o", "2", "8")]).price(
        "openai", "gpt-4o", usage, MAR
    )
    # cache tokens at the input rate: (2000 + 10000 + 4000) * 2 / 1e6 + 1000 * 8 / 1e6
    assert no_cache.total == Decimal("0.032") + Decimal("0.008") == Decimal("0.04")


def test_discount_percent_applies_to_base_price() -> None:
    """A discount-only override takes its percentage off every part of the base source's price."""
    discount = PriceOverride(
        id="enterprise",
        provider="openai",
        model_pattern="gpt-4o",
        effective_from=JAN,
        discount_percent=Decimal("20"),
    )
    usage = Usage(input_tokens=6_000, cache_read_tokens=4_000, output_tokens=1_000)
    price = OverridingSource(GenaiPricesSource(), [discount]).price("openai", "gpt-4o", usage, MAR)
    # base: 6000*2.5/1e6 = 0.015, 4000*1.25/1e6 = 0.005, 1000*10/1e6 = 0.01, total 0.03; then * 0.8
    assert price.input == Decimal("0.015") * Decimal("0.8") == Decimal("0.012")
    assert price.cache_read == Decimal("0.004")
    assert price.output == Decimal("0.008")
    assert price.total == Decimal("0.03") * Decimal("0.8") == Decimal("0.024")
    assert price.price_version == (
        f"override:enterprise (-20% of genai-prices=={genai_prices.__version__}:openai/gpt-4o@base)"
    )


def test_price_version_uses_a_content_hash_without_id() -> None:
    """Without an id, price_version names the override by a stable 12-hex-digit content hash."""
    first = override("gpt-4o", "1", "2")
    again = override("gpt-4o", "1", "2")
    other = override("gpt-4o", "1", "3")
    assert first.key == again.key != other.key
    assert len(first.key) == 12
    assert int(first.key, 16) >= 0
    price = OverridingSource(GenaiPricesSource(), [first]).price("openai", "gpt-4o", ONE_MTOK_EACH, MAR)
    assert price.price_version == f"override:{first.key}"


def test_rounding_is_half_even_at_1e12_at_the_end() -> None:
    """Exact Decimal sums are rounded once to 1e-12 USD, half to even."""
    tiny = override("gpt-4o", "0.0000005", "0")
    source = OverridingSource(GenaiPricesSource(), [tiny])
    # 1 token * 0.0000005 / 1e6 = 5e-13 -> rounds to even 0e-12; 3 tokens = 1.5e-12 -> 2e-12
    assert source.price("openai", "gpt-4o", Usage(input_tokens=1), MAR).total == Decimal("0E-12")
    assert source.price("openai", "gpt-4o", Usage(input_tokens=3), MAR).total == Decimal("2E-12")
    # rounding happens after summing: 1 input token + 1 cache-read token at the same rate = 1e-12 exactly
    both = source.price("openai", "gpt-4o", Usage(input_tokens=1, cache_read_tokens=1), MAR)
    assert both.total == Decimal("1E-12")


@pytest.mark.parametrize(
    "fields",
    [
        {"input_per_mtok": 1.5, "output_per_mtok": "2"},  # float
        {},  # neither prices nor discount
        {"input_per_mtok": "1"},  # output missing
        {"input_per_mtok": "1", "output_per_mtok": "2", "discount_percent": "10"},  # both kinds
        {"discount_percent": "101"},
        {"discount_percent": "10", "effective_to": JAN},  # empty window
        {"discount_percent": "10", "effective_from": datetime(2025, 1, 1)},
    ],
)
def test_invalid_overrides_are_rejected(fields: dict[str, object]) -> None:
    """Floats, missing or mixed price kinds, bad discounts, empty windows and naive dates fail validation."""
    with pytest.raises(ValidationError):
        PriceOverride.model_validate(
            {"provider": "openai", "model_pattern": "gpt-4o", "effective_from": JAN, **fields}
        )
