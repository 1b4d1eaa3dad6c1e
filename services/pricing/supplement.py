"""Our own price entries, laid over genai-prices' bundled data where that data is wrong or incomplete.

The entries are data (`supplement.yaml`, shipped in the package), validated here at load: each names
the genai-prices model it corrects (its catalogue id, so every name the library matches to that id takes
the entry), the prices in genai-prices' own fields, the provider page they were read from and the date
they were checked. `GenaiPricesSource` prices a call with an entry in force instead of the library's
price and names it in `price_version` (``supplement@<checked>:<provider>/<model>@<entry>``).

An entry is meant to be temporary: tests/pricing/test_supplement.py fails once the installed library
prices the model the same way (the entry is redundant) or differently again (the entry is stale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Self

import yaml
from genai_prices.types import ModelPrice, Tier, TieredPrices
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

SUPPLEMENT_FILE = "supplement.yaml"


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("write prices as quoted decimal strings (e.g. '22.5'), never as floats")
    return value


class TierPrice(BaseModel):
    """The per-MTok price for every token of a call whose total input is above `start` tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int = Field(gt=0)
    price: Decimal = Field(ge=0)

    _check_price = field_validator("price", mode="before")(_no_float)


class TieredRate(BaseModel):
    """A base per-MTok price and the long-context tiers above it (genai-prices' `TieredPrices`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: Decimal = Field(ge=0)
    tiers: tuple[TierPrice, ...] = Field(min_length=1)

    _check_base = field_validator("base", mode="before")(_no_float)

    @model_validator(mode="after")
    def _distinct_ascending(self) -> Self:
        starts = [tier.start for tier in self.tiers]
        if starts != sorted(set(starts)):
            raise ValueError("tier starts must be distinct and ascending")
        return self


Rate = Annotated[Decimal, Field(ge=0)] | TieredRate


class SupplementPrices(BaseModel):
    """Per-MTok (and per-thousand-searches) prices, named as genai-prices names them. Only the units
    our `Usage` carries are allowed, so every supplemented price takes the exact per-token path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_mtok: Rate
    output_mtok: Rate
    cache_read_mtok: Rate | None = None
    cache_write_mtok: Rate | None = None
    cache_write_1h_mtok: Rate | None = None
    web_searches_kcount: Decimal | None = Field(default=None, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _no_floats(cls, value: Any) -> Any:
        return _no_float(value)

    def model_price(self) -> ModelPrice:
        """The same prices as the library's own type, so the library's arithmetic applies unchanged."""
        fields: dict[str, Decimal | TieredPrices | None] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, TieredRate):
                value = TieredPrices(
                    base=value.base, tiers=[Tier(start=tier.start, price=tier.price) for tier in value.tiers]
                )
            fields[name] = value
        return ModelPrice(**fields)


class SupplementEntry(BaseModel):
    """Prices of one genai-prices model from `effective_from` (UTC date; always when absent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str = Field(min_length=1, description="genai-prices' provider id, e.g. 'anthropic'.")
    model: str = Field(min_length=1, description="genai-prices' model id, e.g. 'claude-sonnet-4-0'.")
    effective_from: date | None = None
    why: str = Field(min_length=1, description="What the library lacks or gets wrong.")
    source: AnyHttpUrl = Field(description="The provider's page the prices were read from.")
    checked: date = Field(description="When the prices were last compared with that page.")
    prices: SupplementPrices

    @property
    def version(self) -> str:
        entry = "base" if self.effective_from is None else f"from-{self.effective_from.isoformat()}"
        return f"supplement@{self.checked.isoformat()}:{self.provider}/{self.model}@{entry}"

    def in_force(self, at: datetime) -> bool:
        # Judged on the UTC date, as genai-prices judges its own start dates.
        return self.effective_from is None or at.astimezone(UTC).date() >= self.effective_from


class Supplement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: tuple[SupplementEntry, ...]

    @model_validator(mode="after")
    def _one_entry_per_start(self) -> Self:
        seen: set[tuple[str, str, date | None]] = set()
        for entry in self.entries:
            key = (entry.provider, entry.model, entry.effective_from)
            if key in seen:
                raise ValueError(
                    f"two entries for {entry.provider}/{entry.model} from {entry.effective_from}"
                )
            seen.add(key)
        return self


@dataclass(frozen=True, slots=True)
class SupplementPrice:
    """An entry in force, with its prices in the library's type (made once, reused for every call)."""

    entry: SupplementEntry
    model_price: ModelPrice

    @property
    def version(self) -> str:
        return self.entry.version


class SupplementIndex:
    """Entries by (provider id, model id), latest start first, ready for the pricing hot path."""

    def __init__(self, supplement: Supplement) -> None:
        self.supplement = supplement
        by_model: dict[tuple[str, str], list[SupplementPrice]] = {}
        for entry in supplement.entries:
            key = (entry.provider.lower(), entry.model.lower())
            by_model.setdefault(key, []).append(SupplementPrice(entry, entry.prices.model_price()))
        self._by_model: Mapping[tuple[str, str], tuple[SupplementPrice, ...]] = {
            key: tuple(sorted(prices, key=lambda price: price.entry.effective_from or date.min, reverse=True))
            for key, prices in by_model.items()
        }

    def find(self, provider_id: str, model_id: str, at: datetime) -> SupplementPrice | None:
        """The entry in force at `at` for genai-prices' `provider_id`/`model_id`, if any."""
        for price in self._by_model.get((provider_id.lower(), model_id.lower()), ()):
            if price.entry.in_force(at):
                return price
        return None


def parse_supplement(text: str) -> Supplement:
    """Validate a supplement document (YAML)."""
    return Supplement.model_validate(yaml.safe_load(text))


@lru_cache(maxsize=1)
def shipped_supplement() -> SupplementIndex:
    """The supplement shipped with this package, read and validated once per process."""
    text = resources.files(__package__ or "services.pricing").joinpath(SUPPLEMENT_FILE).read_text("utf-8")
    return SupplementIndex(parse_supplement(text))
