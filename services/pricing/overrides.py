"""Team-defined prices (negotiated rates, self-hosted models, discounts) layered over a base source.

An override either gives its own per-MTok prices (input and output required; cache reads/writes
default to the input price when not given; 1-hour cache writes take the cache write price), or a
`discount_percent` taken off the base source's price. Among overrides effective at the call's
instant, the most specific wins: an exact model name beats a glob, then the later `effective_from`,
then the later position in the list.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from fnmatch import fnmatchcase
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.pricing.interface import PriceSource, require_aware
from services.pricing.models import TOKENS_PER_MTOK, Price, Usage, quantize_usd

_GLOB_CHARS = frozenset("*?[")
_HUNDRED = Decimal(100)


class PriceOverride(BaseModel):
    """One override, in force from `effective_from` (inclusive) to `effective_to` (exclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = Field(default=None, description="Stable name; a content hash is used when absent.")
    provider: str
    model_pattern: str = Field(min_length=1, description="An exact model name or an fnmatch glob.")
    effective_from: datetime
    effective_to: datetime | None = None
    input_per_mtok: Decimal | None = Field(default=None, ge=0)
    output_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_read_per_mtok: Decimal | None = Field(default=None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(default=None, ge=0)
    discount_percent: Decimal | None = Field(default=None, ge=0, le=100)

    @field_validator(
        "input_per_mtok",
        "output_per_mtok",
        "cache_read_per_mtok",
        "cache_write_per_mtok",
        "discount_percent",
        mode="before",
    )
    @classmethod
    def _no_floats(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("use a Decimal or a string, never a float, for prices")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        require_aware(self.effective_from, "effective_from")
        if self.effective_to is not None:
            require_aware(self.effective_to, "effective_to")
            if self.effective_to <= self.effective_from:
                raise ValueError("effective_to must be after effective_from")
        per_token = (
            self.input_per_mtok,
            self.output_per_mtok,
            self.cache_read_per_mtok,
            self.cache_write_per_mtok,
        )
        has_prices = any(price is not None for price in per_token)
        if has_prices and self.discount_percent is not None:
            raise ValueError("give either per-token prices or discount_percent, not both")
        if has_prices and (self.input_per_mtok is None or self.output_per_mtok is None):
            raise ValueError("per-token overrides need both input_per_mtok and output_per_mtok")
        if not has_prices and self.discount_percent is None:
            raise ValueError("give per-token prices or discount_percent")
        return self

    @property
    def is_exact(self) -> bool:
        return not _GLOB_CHARS.intersection(self.model_pattern)

    @property
    def key(self) -> str:
        """The id, or the first 12 hex digits of a SHA-256 over the override's content."""
        if self.id is not None:
            return self.id
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def applies(self, provider: str, model: str, at: datetime) -> bool:
        if provider.lower() != self.provider.lower():
            return False
        if self.effective_from > at or (self.effective_to is not None and at >= self.effective_to):
            return False
        if self.is_exact:
            return model.lower() == self.model_pattern.lower()
        return fnmatchcase(model.lower(), self.model_pattern.lower())


class OverridingSource(PriceSource):
    """The winning effective override, else the `base` source."""

    def __init__(self, base: PriceSource, overrides: Sequence[PriceOverride]) -> None:
        self._base = base
        self._overrides = tuple(overrides)

    def find(self, provider: str, model: str, at: datetime) -> PriceOverride | None:
        """The most specific override in force at `at`, if any."""
        require_aware(at)
        candidates = [
            (override.is_exact, override.effective_from, index, override)
            for index, override in enumerate(self._overrides)
            if override.applies(provider, model, at)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda candidate: candidate[:3])[3]

    def price(self, provider: str, model: str, usage: Usage, at: datetime) -> Price:
        override = self.find(provider, model, at)
        if override is None:
            return self._base.price(provider, model, usage, at)
        if override.discount_percent is not None:
            return _discounted(self._base.price(provider, model, usage, at), override)
        return _priced(override, usage)


def _priced(override: PriceOverride, usage: Usage) -> Price:
    input_rate, output_rate = override.input_per_mtok, override.output_per_mtok
    if input_rate is None or output_rate is None:  # excluded by PriceOverride's validation
        raise ValueError(f"override {override.key} has no per-token prices")
    cache_read_rate = input_rate if override.cache_read_per_mtok is None else override.cache_read_per_mtok
    cache_write_rate = input_rate if override.cache_write_per_mtok is None else override.cache_write_per_mtok
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any realistic token count and price
        uncached = usage.input_tokens * input_rate / TOKENS_PER_MTOK
        output = usage.total_output_tokens * output_rate / TOKENS_PER_MTOK
        cache_read = usage.cache_read_tokens * cache_read_rate / TOKENS_PER_MTOK
        cache_write = (
            (usage.cache_write_tokens + usage.cache_write_1h_tokens) * cache_write_rate / TOKENS_PER_MTOK
        )
        total = uncached + output + cache_read + cache_write
    return Price(
        total=quantize_usd(total),
        input=quantize_usd(uncached),
        output=quantize_usd(output),
        cache_read=quantize_usd(cache_read),
        cache_write=quantize_usd(cache_write),
        price_version=f"override:{override.key}",
        tier=None,
    )


def _discounted(base: Price, override: PriceOverride) -> Price:
    if override.discount_percent is None:  # excluded by the caller
        raise ValueError(f"override {override.key} has no discount")
    with localcontext() as ctx:
        ctx.prec = 60
        factor = (_HUNDRED - override.discount_percent) / _HUNDRED

        def cut(amount: Decimal) -> Decimal:
            return quantize_usd(amount * factor)

        return Price(
            total=cut(base.total),
            input=cut(base.input),
            output=cut(base.output),
            cache_read=cut(base.cache_read),
            cache_write=cut(base.cache_write),
            price_version=(
                f"override:{override.key} (-{override.discount_percent}% of {base.price_version})"
            ),
            tier=base.tier,
            model=base.model,
        )
