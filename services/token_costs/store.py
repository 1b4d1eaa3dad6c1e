"""ClickHouse adapter of token costs: which events are stored, insert, cost reports, team purge."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from services.token_costs import queries
from services.token_costs.rows import PricedBatch
from shared.db.clickhouse import ClickHouse
from shared.messages.telemetry import CostFigures, CostGroup, CostPoint, CostQuery, CostReport

TABLE = "token_events"
TEAM_TABLES = (
    "token_events",
    "token_event_ids",
    "token_costs_hourly",
    "token_costs_daily",
    "token_costs_tags_hourly",
)


def _figures(row: dict[str, Any]) -> CostFigures:
    p50, p95 = (row.get("latency") or [math.nan, math.nan])[:2]
    return CostFigures(
        cost_usd=Decimal(row.get("cost_usd") or 0),
        events=int(row.get("events") or 0),
        input_tokens=int(row.get("input_tokens") or 0),
        output_tokens=int(row.get("output_tokens") or 0),
        cache_read_tokens=int(row.get("cache_read_tokens") or 0),
        cache_write_tokens=int(row.get("cache_write_tokens") or 0),
        cache_write_1h_tokens=int(row.get("cache_write_1h_tokens") or 0),
        reasoning_tokens=int(row.get("reasoning_tokens") or 0),
        unpriced_events=int(row.get("unpriced_events") or 0),
        errors=int(row.get("errors") or 0),
        latency_p50_ms=None if p50 is None or math.isnan(p50) else round(float(p50), 3),
        latency_p95_ms=None if p95 is None or math.isnan(p95) else round(float(p95), 3),
    )


class TokenCostStore:
    def __init__(self, clickhouse: ClickHouse) -> None:
        self._ch = clickhouse

    async def stored_ids(self, batches: Sequence[PricedBatch]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_team: dict[str, list[str]] = {}
        for batch in batches:
            by_team.setdefault(batch.team_id, []).extend(batch.event_ids)
        for team_id, ids in by_team.items():
            if not ids:
                continue
            result = await self._ch.query(
                "SELECT DISTINCT event_id FROM token_event_ids"
                " WHERE team_id = {team:String} AND event_id IN {ids:Array(String)}",
                {"team": team_id, "ids": ids},
            )
            found.update((team_id, item["event_id"]) for item in result)
        return found

    async def insert(self, columns: dict[str, list[Any]]) -> int:
        # The rollup views aggregate each block themselves, and ids are deduplicated before the
        # insert: merging rows inside the block again would only cost (half the insert's time).
        return await self._ch.insert_columns(TABLE, columns, settings={"optimize_on_insert": 0})

    async def report(self, team_id: str, query: CostQuery) -> CostReport:
        statements = queries.build(team_id, query)
        rows = await self._ch.query(statements.report.sql, statements.report.params)
        dims = statements.dimensions
        label = {"tag:value": query.group_by[0]} if dims == ("tag:value",) else {}

        def key_of(row: dict[str, Any]) -> tuple[str, ...]:
            return tuple(str(row[d]) for d in dims)

        totals = _figures({})
        group_rows: list[dict[str, Any]] = []
        point_rows: list[dict[str, Any]] = []
        for row in rows:
            level = statements.level(int(row.get("grouping_level", 0)))
            if level is queries.Level.TOTALS:
                totals = _figures(row)
            elif level is queries.Level.GROUP:
                group_rows.append(row)
            else:
                point_rows.append(row)
        if not statements.limited:  # every group came back: keep the top ones, as the SQL would
            group_rows.sort(key=lambda row: (-Decimal(row.get("cost_usd") or 0), -int(row["events"] or 0)))
        truncated = len(group_rows) > query.limit
        groups: dict[tuple[str, ...], CostGroup] = {}
        if dims:
            for row in group_rows[: query.limit]:
                key = key_of(row)
                groups[key] = CostGroup(
                    key={label.get(d, d): v for d, v in zip(dims, key, strict=True)}, totals=_figures(row)
                )
        else:
            groups[()] = CostGroup(key={}, totals=totals)
        for row in point_rows:
            group = groups.get(key_of(row))
            if group is None:
                continue  # beyond the top `limit` groups
            group.series.append(CostPoint(bucket_start=row["bucket_start"], **_figures(row).model_dump()))
        return CostReport(
            team_id=team_id,
            since=query.since,
            until=query.until,
            bucket=query.bucket,
            group_by=list(query.group_by),
            totals=totals,
            groups=list(groups.values()),
            truncated=truncated,
        )

    async def purge_teams(self, team_ids: Sequence[str]) -> int:
        """Delete the teams' events and rollups; returns the number of events there were."""
        if not team_ids:
            return 0
        counted = await self._ch.query(
            f"SELECT count() AS n FROM {TABLE} WHERE team_id IN {{teams:Array(String)}}",
            {"teams": list(team_ids)},
        )
        for table in TEAM_TABLES:
            await self._ch.execute(
                f"ALTER TABLE {table} DELETE WHERE team_id IN {{teams:Array(String)}}"
                " SETTINGS mutations_sync = 2",
                {"teams": list(team_ids)},
            )
        return int(counted[0]["n"]) if counted else 0
