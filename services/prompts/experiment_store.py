"""The `learning` schema's experiment tables (asyncpg). Every query is scoped by team_id, so another
team's experiment id is simply not found."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db.inbox import Connection


@dataclass(frozen=True)
class VariantRow:
    key: str
    version: int
    weight: float
    stopped_at: datetime | None
    stop_reason: str | None


@dataclass(frozen=True)
class ExperimentRow:
    id: str
    prompt: str
    name: str
    status: str
    seed: str
    unit_kind: str
    coverage: float
    primary_metric: str
    guardrails: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    variants: tuple[VariantRow, ...]


_COLUMNS = (
    "e.id::text AS id, p.name AS prompt, e.name, e.status, e.seed, e.unit_kind, e.coverage, "
    "e.primary_metric, e.guardrails, e.created_by, e.created_at, e.started_at, e.stopped_at"
)


async def _variants(conn: Connection, experiment_id: str) -> tuple[VariantRow, ...]:
    rows = await conn.fetch(
        "SELECT key, version, weight, stopped_at, stop_reason FROM learning.experiment_variants "
        "WHERE experiment_id = $1::uuid ORDER BY position",
        experiment_id,
    )
    return tuple(
        VariantRow(r["key"], r["version"], r["weight"], r["stopped_at"], r["stop_reason"]) for r in rows
    )


async def _row(conn: Connection, row: Any) -> ExperimentRow:
    guardrails = row["guardrails"]
    return ExperimentRow(
        row["id"],
        row["prompt"],
        row["name"],
        row["status"],
        row["seed"],
        row["unit_kind"],
        row["coverage"],
        row["primary_metric"],
        json.loads(guardrails) if isinstance(guardrails, str) else guardrails,
        row["created_by"],
        row["created_at"],
        row["started_at"],
        row["stopped_at"],
        await _variants(conn, row["id"]),
    )


async def lock_account(conn: Connection, account_id: str) -> None:
    """Serialise experiment creation within an account, so concurrent ones cannot pass its limit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('learning.experiments:' || $1))", account_id)


async def count_active(conn: Connection, team_ids: Sequence[str]) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM learning.experiments "
            "WHERE team_id = ANY($1::uuid[]) AND status <> 'stopped'",
            list(team_ids),
        )
    )


async def create(
    conn: Connection,
    team_id: str,
    prompt_id: str,
    name: str,
    seed: str,
    unit_kind: str,
    coverage: float,
    primary_metric: str,
    guardrails: list[dict[str, Any]],
    created_by: str,
    variants: Sequence[tuple[str, int, float]],
) -> str:
    experiment_id = await conn.fetchval(
        "INSERT INTO learning.experiments (team_id, prompt_id, name, seed, unit_kind, coverage, "
        "primary_metric, guardrails, created_by) "
        "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8::jsonb, $9) RETURNING id::text",
        team_id,
        prompt_id,
        name,
        seed,
        unit_kind,
        coverage,
        primary_metric,
        json.dumps(guardrails),
        created_by,
    )
    await conn.executemany(
        "INSERT INTO learning.experiment_variants (experiment_id, position, key, prompt_id, version, weight) "
        "VALUES ($1::uuid, $2, $3, $4::uuid, $5, $6)",
        [
            (experiment_id, position, key, prompt_id, version, weight)
            for position, (key, version, weight) in enumerate(variants)
        ],
    )
    return str(experiment_id)


async def get(
    conn: Connection, team_id: str, experiment_id: str, *, lock: bool = False
) -> ExperimentRow | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM learning.experiments e JOIN learning.prompts p ON p.id = e.prompt_id "
        "WHERE e.team_id = $1::uuid AND e.id = $2::uuid" + (" FOR UPDATE OF e" if lock else ""),
        team_id,
        experiment_id,
    )
    return None if row is None else await _row(conn, row)


async def listing(conn: Connection, team_id: str, prompt: str | None) -> list[ExperimentRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM learning.experiments e JOIN learning.prompts p ON p.id = e.prompt_id "
        "WHERE e.team_id = $1::uuid AND ($2::text IS NULL OR p.name = $2) "
        "ORDER BY e.created_at DESC, e.id LIMIT 500",
        team_id,
        prompt,
    )
    return [await _row(conn, r) for r in rows]


async def running_with_guardrails(conn: Connection) -> list[tuple[str, str]]:
    """(team id, experiment id) of every running experiment that has guardrails, oldest first."""
    rows = await conn.fetch(
        "SELECT team_id::text, id::text FROM learning.experiments "
        "WHERE status = 'running' AND guardrails <> '[]'::jsonb ORDER BY started_at, id"
    )
    return [(r["team_id"], r["id"]) for r in rows]


async def set_status(conn: Connection, experiment_id: str, status: str) -> None:
    column = "started_at" if status == "running" else "stopped_at"
    await conn.execute(
        f"UPDATE learning.experiments SET status = $2, {column} = now() WHERE id = $1::uuid",
        experiment_id,
        status,
    )


async def stop_variants(conn: Connection, experiment_id: str, reasons: dict[str, str]) -> list[str]:
    """Stop the variants not stopped yet; returns those this call stopped."""
    stopped: list[str] = []
    for key, reason in reasons.items():
        status = await conn.execute(
            "UPDATE learning.experiment_variants SET stopped_at = now(), stop_reason = $3 "
            "WHERE experiment_id = $1::uuid AND key = $2 AND stopped_at IS NULL",
            experiment_id,
            key,
            reason[:500],
        )
        if status.endswith(" 1"):
            stopped.append(key)
    return stopped


async def expose(
    conn: Connection, experiment_id: str, unit_id: str, variant: str
) -> tuple[bool, str, datetime]:
    """(created, the unit's variant, when first exposed): the first exposure of a unit stands."""
    row = await conn.fetchrow(
        "INSERT INTO learning.experiment_exposures (experiment_id, unit_id, variant) "
        "VALUES ($1::uuid, $2, $3) ON CONFLICT (experiment_id, unit_id) DO NOTHING "
        "RETURNING variant, exposed_at",
        experiment_id,
        unit_id,
        variant,
    )
    if row is not None:
        return True, row["variant"], row["exposed_at"]
    row = await conn.fetchrow(
        "SELECT variant, exposed_at FROM learning.experiment_exposures "
        "WHERE experiment_id = $1::uuid AND unit_id = $2",
        experiment_id,
        unit_id,
    )
    return False, row["variant"], row["exposed_at"]


async def expose_many(
    conn: Connection, experiment_id: str, variants: Mapping[str, str]
) -> dict[str, tuple[bool, datetime]]:
    """`expose` of many units in two statements: unit -> (created, when first exposed)."""
    if not variants:
        return {}
    units, keys = list(variants), list(variants.values())
    created = await conn.fetch(
        "INSERT INTO learning.experiment_exposures (experiment_id, unit_id, variant) "
        "SELECT $1::uuid, u, v FROM unnest($2::text[], $3::text[]) AS t(u, v) "
        "ON CONFLICT (experiment_id, unit_id) DO NOTHING RETURNING unit_id, exposed_at",
        experiment_id,
        units,
        keys,
    )
    found = {r["unit_id"]: (True, r["exposed_at"]) for r in created}
    rest = [u for u in units if u not in found]
    if rest:
        earlier = await conn.fetch(
            "SELECT unit_id, exposed_at FROM learning.experiment_exposures "
            "WHERE experiment_id = $1::uuid AND unit_id = ANY($2::text[])",
            experiment_id,
            rest,
        )
        found.update({r["unit_id"]: (False, r["exposed_at"]) for r in earlier})
    return found


async def exposure_of(conn: Connection, experiment_id: str, unit_id: str) -> str | None:
    value = await conn.fetchval(
        "SELECT variant FROM learning.experiment_exposures WHERE experiment_id = $1::uuid AND unit_id = $2",
        experiment_id,
        unit_id,
    )
    return None if value is None else str(value)


async def exposure_counts(conn: Connection, experiment_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT variant, count(*) AS n FROM learning.experiment_exposures "
        "WHERE experiment_id = $1::uuid GROUP BY variant",
        experiment_id,
    )
    return {r["variant"]: int(r["n"]) for r in rows}


async def record_score(
    conn: Connection, experiment_id: str, request_id: str, name: str, unit_id: str, variant: str, value: float
) -> bool:
    """Whether an earlier value of (request, name) was replaced."""
    replaced = await conn.fetchval(
        "INSERT INTO learning.experiment_scores (experiment_id, request_id, name, unit_id, variant, value) "
        "VALUES ($1::uuid, $2, $3, $4, $5, $6) ON CONFLICT (experiment_id, request_id, name) DO UPDATE "
        "SET value = EXCLUDED.value, unit_id = EXCLUDED.unit_id, variant = EXCLUDED.variant, "
        "recorded_at = now() RETURNING (xmax <> 0)",
        experiment_id,
        request_id,
        name,
        unit_id,
        variant,
        value,
    )
    return bool(replaced)


async def score_moments(conn: Connection, experiment_id: str) -> list[dict[str, Any]]:
    """Per (score name, variant): over units, Σ and Σ² of each unit's score sum (x) and count (y), Σxy."""
    rows = await conn.fetch(
        "SELECT name, variant, count(*) AS n, sum(s) AS x, sum(c) AS y, sum(s * s) AS xx, "
        "sum(c * c) AS yy, sum(s * c) AS xy FROM ("
        "  SELECT name, variant, unit_id, sum(value) AS s, count(*)::float8 AS c "
        "  FROM learning.experiment_scores WHERE experiment_id = $1::uuid GROUP BY name, variant, unit_id"
        ") per_unit GROUP BY name, variant",
        experiment_id,
    )
    return [dict(r) for r in rows]
