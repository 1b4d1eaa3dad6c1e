"""Prices worked out at budget admission, kept for the token-events consumer of the same process,
so a budgeted event is priced once on the MonitoringAgent's busy loop instead of twice (pure).

A kept price is handed out only when it is exactly what the consumer would compute itself: the
same `PriceSource` object (the price book has not reloaded or been invalidated for the team since:
an override created, changed or deleted in between makes the consumer price anew) and the same
inputs (provider, model, instant, tokens: a resend that reuses an id with other content is priced
anew too). Pricing is a pure function of those, so reusing changes no stored value; it is an
optimisation, never a semantic. Everything else falls back to pricing: a redelivery (an entry is
handed out once), an event admitted by another replica, an entry evicted.

Why here and not carried in the accepted-events message: the edge would have to hand back costs it
does not own (nine price columns per event, a larger RPC answer and message, serialised and parsed
on the same hot loop), and a message in the stream would pin a price that an override changed
meanwhile. A process-local memo needs no change of the wire and keeps the consumer authoritative.

Bounded: entries are kept in arrival order and the oldest are dropped past `capacity` (events a
budget refused are never consumed; a consumer far behind simply prices again).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from services.pricing.interface import PriceSource, PricingError
from services.pricing.models import Price

# What a price is a function of (besides the source): provider, model, instant, and the token
# counts in `Usage`'s order (input, output, cache read, cache write, cache write 1 h, reasoning).
Call = tuple[str, str, datetime, int, int, int, int, int, int]

DEFAULT_CAPACITY = 50_000  # about 25 s of admissions at 2,000 events/s


@dataclass(frozen=True, slots=True)
class _Kept:
    source: PriceSource
    call: Call
    result: Price | PricingError


class PricedOnce:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        # OrderedDict, not dict: dropping the oldest of a plain dict (`next(iter(d))`) walks past the
        # slots of every entry removed before it, 23 µs a call once the memo is full.
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self.reused = 0  # prices handed out (each one a pricing saved)

    def keep(
        self, team_id: str, event_id: str, source: PriceSource, call: Call, result: Price | PricingError
    ) -> None:
        key = (team_id, event_id)
        self._kept[key] = _Kept(source, call, result)
        self._kept.move_to_end(key)  # a newer admission of the id is the one to keep, at the end
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)

    def take(
        self, team_id: str, event_id: str, source: PriceSource, call: Call
    ) -> Price | PricingError | None:
        """The kept price of the event if it is the one `source` gives for `call`; None otherwise
        (the caller prices). Handed out once."""
        kept = self._kept.pop((team_id, event_id), None)
        if kept is None or kept.source is not source or kept.call != call:
            return None
        self.reused += 1
        return kept.result

    def __len__(self) -> int:
        return len(self._kept)
