"""PostgreSQL adapter of budgets (schema `monitoring`); every query is scoped by team."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.budgets.planning import BudgetRule
from shared.db.inbox import Connection
from shared.messages.budgets import CreateBudget, Period, ScopeKind, UnpricedPolicy, UpdateBudget

_COLUMNS = (
    "id::text AS id, name, scope_kind, scope_value, amount_usd, period, rolling_hours, thresholds, "
    "hard_limit, unpriced, created_at"
)


def rule_of(row: Any) -> BudgetRule:
    return BudgetRule(
        id=row["id"],
        name=row["name"],
        scope=ScopeKind(row["scope_kind"]),
        scope_value=row["scope_value"],
        amount=Decimal(row["amount_usd"]),
        period=Period(row["period"]),
        rolling_hours=row["rolling_hours"],
        thresholds=tuple(row["thresholds"]),
        hard_limit=row["hard_limit"],
        created_at=row["created_at"],
        unpriced=UnpricedPolicy(row["unpriced"]),
    )


class BudgetNameTaken(Exception):
    pass


async def create(conn: Connection, team_id: str, budget: CreateBudget, created_by: str | None) -> Any:
    import asyncpg

    try:
        return await conn.fetchrow(
            f"""
            INSERT INTO monitoring.budgets (id, team_id, name, scope_kind, scope_value, amount_usd, period,
                                            rolling_hours, thresholds, hard_limit, created_by, unpriced)
            VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            RETURNING {_COLUMNS}
            """,
            uuid.uuid4(),
            team_id,
            budget.name,
            budget.scope.value,
            budget.scope_value,
            budget.amount_usd,
            budget.period.value,
            budget.rolling_hours,
            budget.thresholds,
            budget.hard_limit,
            created_by,
            budget.unpriced.value,
        )
    except asyncpg.UniqueViolationError as error:
        raise BudgetNameTaken(budget.name) from error


async def update(conn: Connection, team_id: str, change: UpdateBudget) -> Any:
    return await conn.fetchrow(
        f"""
        UPDATE monitoring.budgets SET
            name = coalesce($3, name), amount_usd = coalesce($4, amount_usd),
            thresholds = coalesce($5, thresholds), hard_limit = coalesce($6, hard_limit),
            unpriced = coalesce($7, unpriced), updated_at = now()
        WHERE id = $1::uuid AND team_id = $2::uuid
        RETURNING {_COLUMNS}
        """,
        change.budget_id,
        team_id,
        change.name,
        change.amount_usd,
        change.thresholds,
        change.hard_limit,
        change.unpriced.value if change.unpriced is not None else None,
    )


async def delete(conn: Connection, team_id: str, budget_id: str) -> bool:
    result: str = await conn.execute(
        "DELETE FROM monitoring.budgets WHERE id = $1::uuid AND team_id = $2::uuid", budget_id, team_id
    )
    return result.endswith(" 1")


async def get(conn: Connection, team_id: str, budget_id: str) -> Any:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM monitoring.budgets WHERE id = $1::uuid AND team_id = $2::uuid",
        budget_id,
        team_id,
    )


async def list_team(conn: Connection, team_id: str, *, lock: bool = False) -> list[Any]:
    """The team's budgets; with `lock`, their rows stay locked until the transaction ends, which
    serialises admissions against the same budgets across every replica."""
    suffix = " ORDER BY id FOR UPDATE" if lock else " ORDER BY name"
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM monitoring.budgets WHERE team_id = $1::uuid{suffix}", team_id
        )
    )


async def has_budgets(conn: Connection, team_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM monitoring.budgets WHERE team_id = $1::uuid)", team_id
        )
    )


async def teams_with_budgets(conn: Connection) -> list[str]:
    return [
        str(row["team_id"]) for row in await conn.fetch("SELECT DISTINCT team_id FROM monitoring.budgets")
    ]


async def spent(
    conn: Connection, windows: Sequence[tuple[str, datetime, datetime]]
) -> dict[tuple[str, datetime], Decimal]:
    """Spend of each (budget, [start, end)) window, keyed by (budget id, start)."""
    if not windows:
        return {}
    rows = await conn.fetch(
        """
        SELECT w.budget_id, w.start, coalesce(sum(s.spent_usd), 0) AS spent
        FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS w(budget_id, start, stop)
        LEFT JOIN monitoring.budget_spend s
               ON s.budget_id = w.budget_id AND s.hour >= w.start AND s.hour < w.stop
        GROUP BY w.budget_id, w.start
        """,
        [w[0] for w in windows],
        [w[1] for w in windows],
        [w[2] for w in windows],
    )
    return {(str(r["budget_id"]), r["start"]): Decimal(r["spent"]) for r in rows}


async def unpriced_events(conn: Connection, budget_id: str, start: datetime, end: datetime) -> int:
    """Calls a budget counted at cost 0 in [start, end) because their model had no price."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(unpriced_events), 0) FROM monitoring.budget_spend "
            "WHERE budget_id = $1::uuid AND hour >= $2 AND hour < $3",
            budget_id,
            start,
            end,
        )
    )


async def fresh_event_ids(conn: Connection, team_id: str, event_ids: Sequence[str]) -> set[str]:
    """Record the ids as counted; returns those that were not counted before."""
    rows = await conn.fetch(
        """
        INSERT INTO monitoring.budget_admissions (team_id, event_id)
        SELECT $1::uuid, unnest($2::text[])
        ON CONFLICT DO NOTHING
        RETURNING event_id
        """,
        team_id,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def forget_events(conn: Connection, team_id: str, event_ids: Sequence[str]) -> None:
    await conn.execute(
        "DELETE FROM monitoring.budget_admissions WHERE team_id = $1::uuid AND event_id = ANY($2::text[])",
        team_id,
        list(event_ids),
    )


async def charge(
    conn: Connection,
    charges: dict[tuple[str, datetime], tuple[Decimal, int]],
    unpriced: dict[tuple[str, datetime], int] | None = None,
) -> None:
    """Add spend and events (and, of those, the `unpriced` ones) to each (budget, hour)."""
    if not charges:
        return
    keys = list(charges)
    unpriced = unpriced or {}
    await conn.execute(
        """
        INSERT INTO monitoring.budget_spend AS s (budget_id, hour, spent_usd, events, unpriced_events)
        SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::numeric[], $4::bigint[], $5::bigint[])
        ON CONFLICT (budget_id, hour) DO UPDATE
            SET spent_usd = s.spent_usd + EXCLUDED.spent_usd, events = s.events + EXCLUDED.events,
                unpriced_events = s.unpriced_events + EXCLUDED.unpriced_events
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [charges[k][0] for k in keys],
        [charges[k][1] for k in keys],
        [unpriced.get(k, 0) for k in keys],
    )


async def forget_admissions_before(conn: Connection, before: datetime) -> int:
    result: str = await conn.execute(
        "DELETE FROM monitoring.budget_admissions WHERE admitted_at < $1", before
    )
    return int(result.split()[-1])


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    budgets: str = await conn.execute(
        "DELETE FROM monitoring.budgets WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    admissions: str = await conn.execute(
        "DELETE FROM monitoring.budget_admissions WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(budgets.split()[-1]) + int(admissions.split()[-1])


async def list_all(conn: Connection) -> list[tuple[str, Any]]:
    """Every budget with its team id, for the periodic jobs that run per budget."""
    rows = await conn.fetch(
        f"SELECT team_id::text AS team_id, {_COLUMNS} FROM monitoring.budgets ORDER BY team_id"
    )
    return [(row["team_id"], row) for row in rows]
