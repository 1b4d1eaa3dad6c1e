"""The price computed for one LLM call; the normalised `Usage` it is computed from.

`Usage` and the normalisers of providers' usage shapes (`from_openai`, `from_anthropic`,
`from_gemini`) live in the `mno_wire` distribution, shared with the SDK (see its `mno_wire.usage`
for every provider's token semantics); they are re-exported here under their server-side names.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from mno_wire.usage import Usage, from_anthropic, from_gemini, from_openai

__all__ = [
    "TOKENS_PER_MTOK",
    "USD_QUANTUM",
    "Price",
    "Usage",
    "from_anthropic",
    "from_gemini",
    "from_openai",
    "quantize_usd",
]

USD_QUANTUM = Decimal("1e-12")
TOKENS_PER_MTOK = Decimal(1_000_000)


def quantize_usd(amount: Decimal) -> Decimal:
    """Round an exact USD amount to 1e-12 USD, half to even; applied once, to final amounts only."""
    return amount.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Price:
    """The price of one call in USD. Parts are rounded individually, `total` is the exact sum rounded
    once; `total` can exceed the sum of the parts only by charges that are neither input nor output
    tokens (e.g. a per-request fee in the price data). Made by price sources only, from Decimals."""

    total: Decimal
    input: Decimal  # uncached input tokens
    output: Decimal  # output and reasoning tokens
    cache_read: Decimal
    cache_write: Decimal  # all cache writes, 5-minute and 1-hour
    price_version: str  # which price source, version and model/price entry was used
    tier: str | None = None  # price tier applied, e.g. ">200k input"
    currency: Literal["USD"] = "USD"
    # The model as the source knows it (e.g. genai-prices' `gpt-4o-mini` for `gpt-4o-mini-2024-07-18`):
    # what costs are grouped by. None when the source prices the name as given.
    model: str | None = None
