"""One provider call reported by several spans is one token event (pure).

Libraries stack: the anthropic SDK traces its own calls and Traceloop's Anthropic instrumentation
traces them again, in another trace; each span carries the provider's response id
(``gen_ai.response.id``). So a span with a response id gets an event id derived from (provider,
response id), not from its trace and span ids: every report of the call has the same id, within a
team (ids are per team), and the ingest path's dedup by id (JetStream's duplicate window, the
MonitoringAgent's stored-id lookup, ReplacingMergeTree) keeps one. A response id is the provider's
own unique id for one answer, so no time window is needed beyond the stored ids'.

Which report is kept: within one export request, the richest span of a call (`richness`: fewer
estimated counts, then more token kinds, then more tokens) and the others are reported as
``duplicate_call``. Across requests the first stored wins: replacing a stored event would have to
move its cost in the rollups and in budgets already charged, and two libraries in one process export
through the same batch processor, so their spans of a call almost always arrive together.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Final, TypeVar

from shared.messages.telemetry import TokenEventIn

# Values some libraries write when they have no id (OpenLIT sends str(None)).
_NO_ID: Final = frozenset({"", "none", "null", "undefined", "0"})
_TOKEN_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)
_NOT_IN_IDS: Final = re.compile(r"[^A-Za-z0-9._\-]")
T = TypeVar("T")


def call_event_id(provider: str, response_id: str | None) -> str | None:
    """The event id of the call a response id names (None without a usable response id)."""
    if response_id is None or response_id.strip().lower() in _NO_ID:
        return None
    digest = hashlib.sha256(f"{provider}\x00{response_id.strip()}".encode()).hexdigest()[:32]
    return f"call:{_NOT_IN_IDS.sub('-', provider)[:48]}:{digest}"


def richness(event: TokenEventIn) -> tuple[int, int, int]:
    """Orders reports of one call: fewer estimated counts, then more token kinds, then more tokens."""
    counts = [getattr(event, name) for name in _TOKEN_FIELDS]
    return (-len(event.estimated_counts), sum(1 for count in counts if count), sum(counts))


def richest_per_call(
    events: Sequence[tuple[T, TokenEventIn]],
) -> tuple[list[tuple[T, TokenEventIn]], list[T]]:
    """The events to keep (the richest of each id, in request order) and the refs of the others."""
    best: dict[str, int] = {}
    for position, (_, event) in enumerate(events):
        key = event.id or f"#{position}"
        current = best.get(key)
        if current is None or richness(event) > richness(events[current][1]):
            best[key] = position
    kept = set(best.values())
    return (
        [item for position, item in enumerate(events) if position in kept],
        [ref for position, (ref, _) in enumerate(events) if position not in kept],
    )
