"""PostgreSQL adapter of team price overrides and re-pricing runs (schema `monitoring`, 0004).

Every statement is scoped by the team id it is given (the principal's): another team's override id
is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.pricing.overrides import PriceOverride
from services.token_costs.price_book import OverrideLoader
from shared.db.inbox import Connection
from shared.messages.prices import PriceOverrideInfo, RepriceRequest

_COLUMNS = (
    "id::text AS id, provider, model_pattern, effective_from, effective_to, input_per_mtok, "
    "output_per_mtok, cache_read_per_mtok, cache_write_per_mtok, discount_percent, created_by, "
    "created_at, deleted_at"
)
_PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "discount_percent",
)


def as_uuid(value: str) -> str | None:
    """`value` in canonical UUID form, None when it is not one (an id that cannot exist)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def info_of(row: Any) -> PriceOverrideInfo:
    return PriceOverrideInfo.model_validate(dict(row))


def override_of(info: PriceOverrideInfo) -> PriceOverride:
    """The pricing model of a stored override; its id names it in the price versions it produces."""
    return PriceOverride(
        id=info.id,
        provider=info.provider,
        model_pattern=info.model_pattern,
        effective_from=info.effective_from,
        effective_to=info.effective_to,
        **{name: getattr(info, name) for name in _PRICE_FIELDS},
    )


async def create(conn: Connection, team_id: str, override: PriceOverride, created_by: str | None) -> Any:
    return await conn.fetchrow(
        f"""
        INSERT INTO monitoring.price_overrides (id, team_id, provider, model_pattern, effective_from,
            effective_to, input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok,
            discount_percent, created_by)
        VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        RETURNING {_COLUMNS}
        """,
        uuid.uuid4(),
        team_id,
        override.provider,
        override.model_pattern,
        override.effective_from,
        override.effective_to,
        *(getattr(override, name) for name in _PRICE_FIELDS),
        created_by,
    )


async def list_for(
    conn: Connection, team_id: str, *, include_deleted: bool = False
) -> list[PriceOverrideInfo]:
    """The team's overrides in creation order (the order `OverridingSource` breaks ties by)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM monitoring.price_overrides WHERE team_id = $1::uuid"
        " AND ($2 OR deleted_at IS NULL) ORDER BY created_at, id",
        team_id,
        include_deleted,
    )
    return [info_of(row) for row in rows]


async def delete(
    conn: Connection, team_id: str, override_id: str, deleted_by: str | None
) -> PriceOverrideInfo | None:
    """Mark the team's override deleted; None when the team has no such (undeleted) override."""
    key = as_uuid(override_id)
    if key is None:
        return None
    row = await conn.fetchrow(
        f"UPDATE monitoring.price_overrides SET deleted_at = now(), deleted_by = $3"
        f" WHERE id = $1::uuid AND team_id = $2::uuid AND deleted_at IS NULL RETURNING {_COLUMNS}",
        key,
        team_id,
        deleted_by,
    )
    return None if row is None else info_of(row)


def loader(pool: Any) -> OverrideLoader:
    """Loads a team's overrides in force (not deleted) for a `PriceBook`."""

    async def load(team_id: str) -> Sequence[PriceOverride]:
        team = as_uuid(team_id)
        if team is None:  # not a team of ours (e.g. a test's "team-a"): no overrides
            return ()
        async with pool.acquire() as conn:
            return [override_of(info) for info in await list_for(conn, team)]

    return load


async def start_run(
    conn: Connection, team_id: str, request: RepriceRequest, requested_by: str | None
) -> tuple[str, datetime]:
    row = await conn.fetchrow(
        "INSERT INTO monitoring.reprice_runs (id, team_id, requested_by, since, until, provider, model)"
        " VALUES ($1, $2::uuid, $3, $4, $5, $6, $7) RETURNING id::text AS id, started_at",
        uuid.uuid4(),
        team_id,
        requested_by,
        request.since,
        request.until,
        request.provider,
        request.model,
    )
    return str(row["id"]), row["started_at"]


async def finish_run(
    conn: Connection,
    run_id: str,
    *,
    scanned: int,
    repriced: int,
    before: Decimal,
    after: Decimal,
    error: str | None = None,
) -> datetime:
    """Record the outcome (`failed` when `error` is given, with what was done until then)."""
    finished: datetime = await conn.fetchval(
        "UPDATE monitoring.reprice_runs SET status = $2, events_scanned = $3, events_repriced = $4,"
        " before_total_usd = $5, after_total_usd = $6, error = $7, finished_at = now()"
        " WHERE id = $1::uuid RETURNING finished_at",
        run_id,
        "failed" if error is not None else "done",
        scanned,
        repriced,
        before,
        after,
        error,
    )
    return finished


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """Delete the teams' overrides and re-pricing runs (a `TeamPurger`); returns the rows deleted."""
    teams = [team for team in (as_uuid(team_id) for team_id in team_ids) if team is not None]
    deleted = 0
    for table in ("price_overrides", "reprice_runs"):
        status: str = await conn.execute(
            f"DELETE FROM monitoring.{table} WHERE team_id = ANY($1::uuid[])", teams
        )
        deleted += int(status.rsplit(" ", 1)[1])
    return deleted
