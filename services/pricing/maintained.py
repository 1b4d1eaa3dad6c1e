"""The maintained price source: genai-prices' bundled data with our supplement laid over it.

Every component that prices token events (ingest, re-pricing, budget admission, through the
MonitoringAgent's price book) takes its base source from here, so a supplement entry reaches all of
them; tests/pricing/test_supplement.py fails on code that builds a `GenaiPricesSource` anywhere else.
"""

from __future__ import annotations

from services.pricing.genai import GenaiPricesSource
from services.pricing.interface import PriceSource
from services.pricing.supplement import shipped_supplement


def maintained_price_source() -> PriceSource:
    """genai-prices' prices, corrected by `services/pricing/supplement.yaml`."""
    return GenaiPricesSource(supplement=shipped_supplement())
