"""OTLP spans that became no token event, per team (`super_agent.otlp_span_drops`).

The Prometheus counter `mno_otlp_spans_dropped_total` has no team, so a team cannot see its own
drops in it. Each export's drops are aggregated here to one row per (reason, library) and written
in one upsert into the hour's counts, keeping one example; `GET /api/v1/ingest/dropped-spans` and
the dashboard's ingest health read them. Recording is best effort: a failure is logged and counted
(`mno_otlp_span_drops_unrecorded_total`), never fails the export whose events were accepted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from services.ingest.otlp_genai import REASON_TEXT, DroppedSpan, DropReason
from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock
from shared.messages.telemetry import DROPPED_SPANS_MAX_DAYS, DroppedSpansGroup, DroppedSpansReport
from shared.metrics import OTLP_SPAN_DROPS_UNRECORDED_TOTAL

log = logging.getLogger(__name__)

RETENTION: Final = timedelta(days=30)
EXAMPLE_CHARS: Final = 200
DEFAULT_RANGE: Final = timedelta(hours=24)

# Model calls that happened and are not counted: spend the team does not see.
MONEY_LOSING: Final[Sequence[DropReason]] = (DropReason.NO_USAGE, DropReason.INVALID, DropReason.REFUSED)
FIX: Final[dict[DropReason, str]] = {
    DropReason.NO_USAGE: "set stream_options.include_usage (OpenAI streams) or enable your "
    "instrumentation's token-usage capture",
    DropReason.INVALID: "fix what the example names: token counts must be non-negative integers, "
    "provider and model present",
    DropReason.REFUSED: "see the example: a budget's hard limit or ingest validation refused the call",
}


@dataclass(frozen=True)
class DropRow:
    reason: str
    library: str
    spans: int
    example: str


def _example(drop: DroppedSpan) -> str:
    text = f"{drop.ref.name}: {drop.detail}" if drop.detail else drop.ref.name
    return text[:EXAMPLE_CHARS]


def aggregate(drops: Sequence[DroppedSpan]) -> list[DropRow]:
    """One row per (reason, library), sorted (concurrent upserts lock rows in one order), with the
    first span carrying a detail as the example (else the first span's name)."""
    counts: dict[tuple[str, str], int] = {}
    examples: dict[tuple[str, str], DroppedSpan] = {}
    for drop in drops:
        key = (drop.reason.value, drop.ref.library.value)
        counts[key] = counts.get(key, 0) + 1
        if key not in examples or (drop.detail and not examples[key].detail):
            examples[key] = drop
    return [
        DropRow(reason, library, counts[reason, library], _example(examples[reason, library]))
        for reason, library in sorted(counts)
    ]


def hour_of(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def record(pool: Any, team_id: str, drops: Sequence[DroppedSpan], received_at: datetime) -> None:
    """Add an export's drops to the team's hour; logs and counts a failure instead of raising."""
    rows = aggregate(drops)
    if not rows:
        return
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO super_agent.otlp_span_drops AS d (team_id, hour, reason, library, spans, example)
                SELECT $1::uuid, $2, r, l, s, e
                FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[]) AS t(r, l, s, e)
                ON CONFLICT (team_id, hour, reason, library) DO UPDATE
                SET spans = d.spans + EXCLUDED.spans, example = EXCLUDED.example
                """,
                team_id,
                hour_of(received_at),
                [row.reason for row in rows],
                [row.library for row in rows],
                [row.spans for row in rows],
                [row.example for row in rows],
            )
    except Exception:  # the export's events are accepted: only the report is lost
        OTLP_SPAN_DROPS_UNRECORDED_TOTAL.inc(sum(row.spans for row in rows))
        log.warning("could not record %d dropped OTLP spans of team %s", len(drops), team_id, exc_info=True)


def _group(reason: str, library: str | None, spans: int, example: str) -> DroppedSpansGroup:
    known = DropReason(reason) if reason in DropReason._value2member_map_ else None
    return DroppedSpansGroup(
        reason=reason,
        library=library,
        spans=spans,
        loses_money=known in MONEY_LOSING,
        meaning=REASON_TEXT.get(known, reason) if known is not None else reason,
        fix=FIX.get(known) if known is not None else None,
        example=example,
    )


def _order(group: DroppedSpansGroup) -> tuple[bool, int, str, str]:
    return (not group.loses_money, -group.spans, group.reason, group.library or "")


def report(
    team_id: str, since: datetime, until: datetime, rows: Sequence[tuple[str, str, int, str]]
) -> DroppedSpansReport:
    """The answer from (reason, library, spans, example) rows: totals by reason and by library."""
    by_reason: dict[str, tuple[int, str]] = {}
    for reason, _, spans, example in rows:
        total, first = by_reason.get(reason, (0, ""))
        by_reason[reason] = (total + spans, first or example)
    return DroppedSpansReport(
        team_id=team_id,
        since=since,
        until=until,
        total=sum(spans for _, _, spans, _ in rows),
        by_reason=sorted((_group(r, None, s, e) for r, (s, e) in by_reason.items()), key=_order),
        by_library=sorted((_group(r, lib, s, e) for r, lib, s, e in rows), key=_order),
    )


class RangeError(ValueError):
    pass


def window(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The asked range, defaults filled (until now, since 24 h before until), checked again: one
    end given alone can put the defaulted other on its wrong side or too far."""
    end = until or now
    start = since or end - DEFAULT_RANGE
    if end <= start:
        raise RangeError("until must be after since")
    if end - start > timedelta(days=DROPPED_SPANS_MAX_DAYS):
        raise RangeError(f"the range is at most {DROPPED_SPANS_MAX_DAYS} days")
    return start, end


async def query(pool: Any, team_id: str, since: datetime, until: datetime) -> DroppedSpansReport:
    """The team's drops in the hours that start in [hour of since, until)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT reason, library, sum(spans)::bigint AS spans,
                   (array_agg(example ORDER BY hour DESC))[1] AS example
            FROM super_agent.otlp_span_drops
            WHERE team_id = $1::uuid AND hour >= $2 AND hour < $3
            GROUP BY reason, library
            """,
            team_id,
            hour_of(since),
            until,
        )
    return report(
        team_id, since, until, [(r["reason"], r["library"], r["spans"], r["example"]) for r in rows]
    )


async def prune(pool: Any, retention: timedelta = RETENTION, *, now: datetime | None = None) -> int:
    """Delete hours older than the retention; one replica at a time. Returns how many rows went."""
    async with try_advisory_lock(pool, "mno.ingest.span_drops.prune") as held:
        if not held:
            return 0
        async with pool.acquire() as conn:
            result: str = await conn.execute(
                "DELETE FROM super_agent.otlp_span_drops WHERE hour < $1",
                (now or datetime.now(UTC)) - retention,
            )
    return int(result.split()[-1])


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """The drop counts' share of a team-data purge."""
    result: str = await conn.execute(
        "DELETE FROM super_agent.otlp_span_drops WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(result.split()[-1])
