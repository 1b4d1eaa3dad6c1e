"""How numbers and instants read on the pages (Jinja filters)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal


def usd(value: Decimal | float | int | None) -> str:
    """$1,234.56; amounts under a cent keep four places ($0.0042), since LLM calls cost that."""
    if value is None:
        return "—"
    amount = Decimal(str(value))
    places = Decimal("0.01") if amount == 0 or abs(amount) >= Decimal("0.01") else Decimal("0.0001")
    rounded = amount.quantize(places, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,}"


def count(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def when(value: datetime | None) -> str:
    """2025-03-04 14:05 UTC: one zone for everyone reading the same page."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%b %d")
