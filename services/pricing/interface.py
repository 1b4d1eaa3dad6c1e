"""What pricing needs from a price source: one method, and one error class per failure."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from services.pricing.models import Price, Usage


class PricingError(Exception):
    """Base class of every pricing error."""


class UnknownModel(PricingError, LookupError):
    """The source has no price for this provider and model."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        super().__init__(f"no price known for model {model!r} of provider {provider!r}")


def require_aware(at: datetime, name: str = "at") -> datetime:
    """Reject naive datetimes: a price date must be an instant, not a wall-clock reading."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at!r}")
    return at


class PriceSource(ABC):
    """Prices one call: `usage` of `model` at `provider`, as charged at instant `at`."""

    @abstractmethod
    def price(self, provider: str, model: str, usage: Usage, at: datetime) -> Price:
        """Return the exact price; raise `UnknownModel` when there is no price for the model."""
