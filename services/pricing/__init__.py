"""Pricing: turn one LLM call's token usage into an exact USD amount (pure logic, no I/O).

`models` holds the normalised `Usage` and the `Price` result, `interface` the `PriceSource` contract,
`genai` the implementation backed by the `genai-prices` package data, `supplement` our own entries laid
over that data where it is wrong or incomplete, `maintained` the one factory of that combined source,
`overrides` team-defined prices.

Owned by the MonitoringAgent.
"""

from services.pricing.interface import PriceSource, PricingError, UnknownModel
from services.pricing.models import Price, Usage, from_anthropic, from_gemini, from_openai

__all__ = [
    "Price",
    "PriceSource",
    "PricingError",
    "UnknownModel",
    "Usage",
    "from_anthropic",
    "from_gemini",
    "from_openai",
]
