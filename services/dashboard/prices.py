"""The Prices page: the team's price overrides and its re-pricing runs with their before/after totals.

Pure. The forms arrive as strings (htmx's json-enc); `OverrideForm.body` and `RepriceForm.body` make
the bodies `POST /api/v1/price-overrides` and `POST /api/v1/costs/reprice` take, whose models decide
what is valid. Past runs are read from the audit log (`prices.reprice` entries: the API keeps no other
list of runs), so they are shown to those who may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.messages.fields import Text
from shared.messages.prices import PriceOverrideInfo, PriceOverrideList, RepriceResult

REPRICE_ACTION = "prices.reprice"
RUNS_SHOWN = 20
FormText = Annotated[Text, StringConstraints(max_length=256)]


def _day(text: str) -> str | None:
    """A form's date (YYYY-MM-DD) as the instant of its UTC midnight; other text is passed on as it
    is, for the API's model to refuse by name."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC).isoformat()
    except ValueError:
        return text


def _amount(text: str) -> str | None:
    text = text.strip()
    return text or None


class OverrideForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: FormText = ""
    model_pattern: FormText = ""
    kind: Literal["prices", "discount"] = "prices"
    input_per_mtok: FormText = ""
    output_per_mtok: FormText = ""
    cache_read_per_mtok: FormText = ""
    cache_write_per_mtok: FormText = ""
    discount_percent: FormText = ""
    effective_from: FormText = ""
    effective_to: FormText = ""

    def body(self, today: date) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provider": self.provider.strip(),
            "model_pattern": self.model_pattern.strip(),
            "effective_from": _day(self.effective_from) or _day(today.isoformat()),
        }
        if (until := _day(self.effective_to)) is not None:
            body["effective_to"] = until
        if self.kind == "discount":
            body["discount_percent"] = _amount(self.discount_percent)
        else:
            for name in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"):
                if (value := _amount(getattr(self, name))) is not None:
                    body[name] = value
        return body


class OverrideRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    override_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class RepriceForm(BaseModel):
    """Days, both included (UTC), and optionally one provider or model."""

    model_config = ConfigDict(extra="forbid")

    since: FormText = ""
    until: FormText = ""
    provider: FormText = ""
    model: FormText = ""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"since": _day(self.since), "until": _day(self.until)}
        try:
            last = date.fromisoformat(self.until.strip())
            body["until"] = datetime.combine(last + timedelta(days=1), time(), UTC).isoformat()
        except ValueError:
            pass
        if self.provider.strip():
            body["provider"] = self.provider.strip()
        if self.model.strip():
            body["model"] = self.model.strip()
        return body


@dataclass(frozen=True)
class OverrideRow:
    id: str
    provider: str
    model_pattern: str
    price: str  # what it charges, in words
    effective_from: datetime
    effective_to: datetime | None
    created_at: datetime
    deleted_at: datetime | None


def _per_mtok(value: Decimal | None) -> str:
    return "—" if value is None else f"${value.normalize():f}"


def override_rows(found: PriceOverrideList) -> list[OverrideRow]:
    rows = []
    for o in sorted(found.overrides, key=lambda o: (o.deleted_at is not None, o.provider, o.model_pattern)):
        rows.append(
            OverrideRow(
                o.id,
                o.provider,
                o.model_pattern,
                _price(o),
                o.effective_from,
                o.effective_to,
                o.created_at,
                o.deleted_at,
            )
        )
    return rows


def _price(o: PriceOverrideInfo) -> str:
    if o.discount_percent is not None:
        return f"{o.discount_percent.normalize():f}% off the maintained price"
    parts = [f"input {_per_mtok(o.input_per_mtok)}", f"output {_per_mtok(o.output_per_mtok)}"]
    if o.cache_read_per_mtok is not None:
        parts.append(f"cache read {_per_mtok(o.cache_read_per_mtok)}")
    if o.cache_write_per_mtok is not None:
        parts.append(f"cache write {_per_mtok(o.cache_write_per_mtok)}")
    return " · ".join(parts) + " per MTok"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    at: datetime
    since: str
    until: str
    scope: str  # all events, or the provider / model it was limited to
    before_usd: Decimal | None
    after_usd: Decimal | None
    events_scanned: int | None
    events_repriced: int | None

    @property
    def change_usd(self) -> Decimal | None:
        if self.before_usd is None or self.after_usd is None:
            return None
        return self.after_usd - self.before_usd


def _decimal(value: object) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def run_of(result: RepriceResult) -> RunRow:
    return RunRow(
        result.run_id,
        result.finished_at,
        result.since.isoformat(),
        result.until.isoformat(),
        _scope(result.provider, result.model),
        result.before_total_usd,
        result.after_total_usd,
        result.events_scanned,
        result.events_repriced,
    )


def _scope(provider: object, model: object) -> str:
    words = [f"provider {provider}" if provider else "", f"model {model}" if model else ""]
    return ", ".join(w for w in words if w) or "all events"


def run_rows(entries: list[dict[str, Any]]) -> list[RunRow]:
    """Re-pricing runs from the audit log's `prices.reprice` entries (as the API's JSON gives them)."""
    rows = []
    for entry in entries:
        if entry.get("action") != REPRICE_ACTION:
            continue
        before = entry.get("before") if isinstance(entry.get("before"), dict) else {}
        after = entry.get("after") if isinstance(entry.get("after"), dict) else {}
        assert isinstance(before, dict)
        assert isinstance(after, dict)
        rows.append(
            RunRow(
                str(entry.get("resource_id") or ""),
                datetime.fromisoformat(str(entry["occurred_at"])),
                str(after.get("since") or before.get("since") or ""),
                str(after.get("until") or before.get("until") or ""),
                _scope(after.get("provider"), after.get("model")),
                _decimal(before.get("total_usd")),
                _decimal(after.get("total_usd")),
                _int(after.get("events_scanned")),
                _int(after.get("events_repriced")),
            )
        )
    return rows
