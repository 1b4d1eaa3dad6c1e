"""Team price overrides (custom models, negotiated rates, discounts) and re-pricing of stored events.

Prices are USD per million tokens. Send amounts as JSON strings ("2.50") to keep every digit; numbers
are accepted too. The cross-field rules (per-token prices *or* a discount, input and output together,
`effective_to` after `effective_from`) are `services.pricing.overrides.PriceOverride`'s, checked by the
MonitoringAgent, which answers 422 naming the rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.messages.fields import Text, Timestamp

# A year and a month of margin: enough for "re-price last year", small enough to bound one run.
MAX_REPRICE_RANGE = timedelta(days=400)

PerMtok = Annotated[Decimal, Field(ge=0, le=Decimal(1_000_000), decimal_places=12)]
Provider = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-/]+$")]
ModelPattern = Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreatePriceOverride(_Input):
    """`POST /api/v1/price-overrides`: your team's price for a model (or a glob of models) from a date."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-mno-rules": [
                "exactly one of: per-token prices (input_per_mtok and output_per_mtok together), "
                "discount_percent",
                "effective_to > effective_from",
            ]
        },
    )

    provider: Provider = Field(description="openai, anthropic, gemini, ... or your own provider name.")
    model_pattern: ModelPattern = Field(
        description="An exact model name, or an fnmatch glob (`gpt-4o*`); an exact name beats a glob."
    )
    effective_from: Timestamp = Field(description="In force from this instant (inclusive).")
    effective_to: Timestamp | None = Field(
        default=None, description="Until this instant (exclusive); after effective_from."
    )
    input_per_mtok: PerMtok | None = None
    output_per_mtok: PerMtok | None = None
    cache_read_per_mtok: PerMtok | None = Field(default=None, description="Defaults to the input price.")
    cache_write_per_mtok: PerMtok | None = Field(default=None, description="Defaults to the input price.")
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=6)] | None = Field(
        default=None, description="Taken off the maintained price instead of per-token prices."
    )


class PriceOverrideInfo(BaseModel):
    """A stored override. Events priced by it carry `override:<id>` in their price version."""

    id: str
    provider: str
    model_pattern: str
    effective_from: datetime
    effective_to: datetime | None
    input_per_mtok: Decimal | None
    output_per_mtok: Decimal | None
    cache_read_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    discount_percent: Decimal | None
    created_by: str | None
    created_at: datetime
    deleted_at: datetime | None = None


class ListPriceOverrides(_Input):
    """`GET /api/v1/price-overrides`: your team's overrides, oldest first."""

    include_deleted: bool = Field(default=False, description="Also the deleted ones (kept for history).")


class PriceOverrideList(BaseModel):
    overrides: list[PriceOverrideInfo]


class PriceOverrideRef(_Input):
    override_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class RepriceRequest(_Input):
    """`POST /api/v1/costs/reprice`: price your team's stored events in [since, until) again with the
    prices in force now (maintained prices and your overrides, as of each event's timestamp)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-mno-rules": ["until > since", f"until - since <= {MAX_REPRICE_RANGE.days} days"]
        },
    )

    since: Timestamp
    until: Timestamp
    provider: Provider | None = Field(default=None, description="Only events of this provider.")
    model: ModelPattern | None = Field(default=None, description="Only events of this exact model name.")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        if self.until - self.since > MAX_REPRICE_RANGE:
            raise ValueError(f"re-price at most {MAX_REPRICE_RANGE.days} days at a time")
        return self


class RepriceResult(BaseModel):
    """What a re-pricing run did: totals of the matched events before and after, exact USD."""

    run_id: str
    since: datetime
    until: datetime
    provider: str | None
    model: str | None
    events_scanned: int = Field(description="Events in the range (and filters).")
    events_repriced: int = Field(description="Events whose price changed, now at a new price revision.")
    before_total_usd: Decimal
    after_total_usd: Decimal
    started_at: datetime
    finished_at: datetime
