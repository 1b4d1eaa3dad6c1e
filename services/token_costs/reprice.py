"""A re-pricing run: a team's stored events in [since, until) priced again with the team's current
prices, in chunks, with the run recorded in PostgreSQL (`monitoring.reprice_runs`).

One run per team at a time (an advisory lock, across replicas): two runs reading the same revision
would both write its successor and correct the rollups twice. A second run over the same range finds
every price unchanged and writes nothing.

Per chunk the new revisions are written first, then the rollup corrections, then the budgets' spend
is moved by each event's cost change (`revise_spend`). If the process dies in between, the run stays
`running` in its record and that chunk's rollup totals or budget spend lack its delta (the raw
events are right). Chunks are small so that window is short.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.budgets.planning import SpendRevision
from services.token_costs import overrides_store
from services.token_costs.price_book import PriceBook
from services.token_costs.repricing import (
    HOURLY_COLUMNS,
    STORED_COLUMNS,
    TAGS_COLUMNS,
    Change,
    hourly_corrections,
    reprice,
    tag_corrections,
)
from services.token_costs.store import TABLE
from shared.db.clickhouse import ClickHouse
from shared.db.locks import try_advisory_lock
from shared.messages.prices import RepriceRequest, RepriceResult

DEFAULT_CHUNK = 5_000
_SELECT = ", ".join(f"`{name}`" for name in STORED_COLUMNS)
_AT = {
    name: STORED_COLUMNS.index(name) for name in ("timestamp", "project", "user", "model_raw", "api_key_id")
}

# Moves a team's budget spend by re-priced events' cost changes.
SpendReviser = Callable[[str, Sequence[SpendRevision]], Awaitable[None]]


def spend_revision(change: Change) -> SpendRevision:
    row = change.row
    return SpendRevision(
        timestamp=row[_AT["timestamp"]],
        project=row[_AT["project"]] or None,
        user=row[_AT["user"]] or None,
        model=row[_AT["model_raw"]],  # budgets cover the model name as reported, as at admission
        api_key_id=row[_AT["api_key_id"]] or None,
        delta=change.cost_delta,
    )


class RepriceBusy(Exception):
    """Another re-pricing of the team is running."""


@dataclass(slots=True)
class _Tally:
    scanned: int = 0
    repriced: int = 0
    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)


class Repricer:
    def __init__(
        self,
        clickhouse: ClickHouse,
        pool: Any,
        book: PriceBook,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        revise_spend: SpendReviser | None = None,
    ) -> None:
        self._ch = clickhouse
        self._pool = pool
        self._book = book
        self._chunk = chunk_size
        self._revise_spend = revise_spend

    async def run(self, team_id: str, request: RepriceRequest, requested_by: str | None) -> RepriceResult:
        """Re-price and record the run; raises `RepriceBusy` when the team has one running."""
        async with try_advisory_lock(self._pool, f"mno.monitoring.reprice:{team_id}") as held:
            if not held:
                raise RepriceBusy(team_id)
            # Read now, not from the cache: the overrides may have changed on another replica.
            source = await self._book.source_for(team_id, fresh=True)
            async with self._pool.acquire() as conn:
                run_id, started = await overrides_store.start_run(conn, team_id, request, requested_by)
            tally = _Tally()
            try:
                after_ts, after_id = request.since, ""
                while True:
                    stored = await self._chunk_after(team_id, request, after_ts, after_id)
                    if not stored:
                        break
                    outcome = reprice(source, stored)
                    await self._write(outcome.changes)
                    if self._revise_spend is not None and outcome.changes:
                        await self._revise_spend(team_id, [spend_revision(c) for c in outcome.changes])
                    tally.scanned += len(stored)
                    tally.repriced += len(outcome.changes)
                    tally.before += outcome.before
                    tally.after += outcome.after
                    after_ts, after_id = stored[-1]["timestamp"], stored[-1]["event_id"]
            except Exception as error:
                await self._finish(run_id, tally, error=f"{type(error).__name__}: {error}")
                raise
            finished = await self._finish(run_id, tally)
        return RepriceResult(
            run_id=run_id,
            since=request.since,
            until=request.until,
            provider=request.provider,
            model=request.model,
            events_scanned=tally.scanned,
            events_repriced=tally.repriced,
            before_total_usd=tally.before,
            after_total_usd=tally.after,
            started_at=started,
            finished_at=finished,
        )

    async def _chunk_after(
        self, team_id: str, request: RepriceRequest, after_ts: datetime, after_id: str
    ) -> list[dict[str, Any]]:
        """The next chunk of latest revisions, in (timestamp, event id) order after the given key."""
        params: dict[str, Any] = {
            "team": team_id,
            "since": request.since,
            "until": request.until,
            "after_ts": after_ts,
            "after_id": after_id,
        }
        where = [
            "team_id = {team:String}",
            "timestamp >= {since:DateTime64(3, 'UTC')}",
            "timestamp < {until:DateTime64(3, 'UTC')}",
            "(timestamp, event_id) > ({after_ts:DateTime64(3, 'UTC')}, {after_id:String})",
        ]
        if request.provider is not None:
            where.append("provider = {provider:String}")
            params["provider"] = request.provider
        if request.model is not None:
            where.append("(model = {model:String} OR model_raw = {model:String})")
            params["model"] = request.model
        return await self._ch.query(
            f"SELECT {_SELECT} FROM {TABLE} FINAL WHERE {' AND '.join(where)}"
            f" ORDER BY timestamp, event_id LIMIT {int(self._chunk)}",
            params,
        )

    async def _write(self, changes: list[Change]) -> None:
        if not changes:
            return
        await self._ch.insert(TABLE, STORED_COLUMNS, [change.row for change in changes])
        hourly = hourly_corrections(changes)
        if hourly:
            await self._ch.insert("token_costs_hourly", HOURLY_COLUMNS, hourly)
        tags = tag_corrections(changes)
        if tags:
            await self._ch.insert("token_costs_tags_hourly", TAGS_COLUMNS, tags)

    async def _finish(self, run_id: str, tally: _Tally, *, error: str | None = None) -> datetime:
        async with self._pool.acquire() as conn:
            return await overrides_store.finish_run(
                conn,
                run_id,
                scanned=tally.scanned,
                repriced=tally.repriced,
                before=tally.before,
                after=tally.after,
                error=error,
            )
