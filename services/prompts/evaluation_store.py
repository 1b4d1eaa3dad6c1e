"""The `learning` schema's evaluation tables (asyncpg): test sets, runs and their cases. Every query
is scoped by team_id: a run of another team is simply not found."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.db.inbox import Connection

INTERRUPTED = "the run stopped before it finished (its agent stopped or it ran past its deadline)"


@dataclass(frozen=True)
class TestSetRow:
    __test__ = False

    test_set: dict[str, Any]
    revision: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    passed: bool
    output: str
    latency_ms: float | None
    cost_usd: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    error: str | None
    assertions: list[dict[str, Any]]


@dataclass(frozen=True)
class RunRow:
    id: str
    version: int
    status: str
    model: str
    passed: bool | None
    pass_rate: float | None
    min_pass_rate: float
    cases_total: int
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def test_set(conn: Connection, team_id: str, prompt_id: str) -> TestSetRow | None:
    row = await conn.fetchrow(
        "SELECT test_set, revision, updated_by, updated_at FROM learning.prompt_test_sets "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid",
        team_id,
        prompt_id,
    )
    if row is None:
        return None
    return TestSetRow(_json(row["test_set"]), row["revision"], row["updated_by"], row["updated_at"])


async def put_test_set(
    conn: Connection, team_id: str, prompt_id: str, document: dict[str, Any], updated_by: str
) -> TestSetRow:
    row = await conn.fetchrow(
        "INSERT INTO learning.prompt_test_sets (prompt_id, team_id, test_set, updated_by) "
        "VALUES ($1::uuid, $2::uuid, $3::jsonb, $4) ON CONFLICT (prompt_id) DO UPDATE SET "
        "test_set = EXCLUDED.test_set, updated_by = EXCLUDED.updated_by, updated_at = now(), "
        "revision = prompt_test_sets.revision + 1 "
        "RETURNING test_set, revision, updated_by, updated_at",
        prompt_id,
        team_id,
        document,
        updated_by,
    )
    return TestSetRow(_json(row["test_set"]), row["revision"], row["updated_by"], row["updated_at"])


_RUN_COLUMNS = (
    "id::text, version, status, model, passed, pass_rate, min_pass_rate, cases_total, started_by, "
    "started_at, finished_at, error"
)


def _run(row: Any) -> RunRow:
    return RunRow(**dict(row))


async def start_run(
    conn: Connection,
    team_id: str,
    prompt_id: str,
    version: int,
    *,
    model: str,
    min_pass_rate: float,
    cases_total: int,
    test_set_revision: int,
    started_by: str,
    deadline_seconds: float,
) -> RunRow:
    row = await conn.fetchrow(
        "INSERT INTO learning.prompt_evaluations (team_id, prompt_id, version, status, model, "
        "min_pass_rate, cases_total, test_set_revision, started_by, deadline_at) "
        "VALUES ($1::uuid, $2::uuid, $3, 'running', $4, $5, $6, $7, $8, "
        "now() + make_interval(secs => $9)) "
        f"RETURNING {_RUN_COLUMNS}",
        team_id,
        prompt_id,
        version,
        model,
        min_pass_rate,
        cases_total,
        test_set_revision,
        started_by,
        deadline_seconds,
    )
    return _run(row)


async def finish_run(
    conn: Connection, run_id: str, passed: bool, pass_rate: float, cases: Sequence[CaseRow]
) -> bool:
    """Record the outcome, unless the run was already declared failed (past its deadline)."""
    status = await conn.execute(
        "UPDATE learning.prompt_evaluations SET status = 'finished', passed = $2, pass_rate = $3, "
        "finished_at = now(), summary = jsonb_build_object('passed', $2::boolean, 'pass_rate', $3::float8) "
        "WHERE id = $1::uuid AND status = 'running'",
        run_id,
        passed,
        pass_rate,
    )
    if not status.endswith(" 1"):
        return False
    team_id = await conn.fetchval(
        "SELECT team_id::text FROM learning.prompt_evaluations WHERE id = $1::uuid", run_id
    )
    await conn.executemany(
        "INSERT INTO learning.prompt_evaluation_cases (evaluation_id, team_id, position, case_id, passed, "
        "output, latency_ms, cost_usd, input_tokens, output_tokens, error, assertions) "
        "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)",
        [
            (
                run_id,
                team_id,
                position,
                c.case_id,
                c.passed,
                c.output,
                c.latency_ms,
                c.cost_usd,
                c.input_tokens,
                c.output_tokens,
                c.error,
                c.assertions,
            )
            for position, c in enumerate(cases)
        ],
    )
    return True


async def fail_run(conn: Connection, run_id: str, error: str) -> None:
    await conn.execute(
        "UPDATE learning.prompt_evaluations SET status = 'failed', error = $2, finished_at = now() "
        "WHERE id = $1::uuid AND status = 'running'",
        run_id,
        error,
    )


async def expire_runs(conn: Connection, team_id: str) -> None:
    """Runs past their deadline (their agent stopped mid-run) are failed, so none stays `running`."""
    await conn.execute(
        "UPDATE learning.prompt_evaluations SET status = 'failed', error = $2, finished_at = now() "
        "WHERE team_id = $1::uuid AND status = 'running' AND deadline_at < now()",
        team_id,
        INTERRUPTED,
    )


async def run(conn: Connection, team_id: str, prompt_id: str, run_id: str) -> RunRow | None:
    row = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM learning.prompt_evaluations "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND id = $3::uuid",
        team_id,
        prompt_id,
        run_id,
    )
    return None if row is None else _run(row)


async def runs(
    conn: Connection, team_id: str, prompt_id: str, version: int | None, limit: int = 100
) -> list[RunRow]:
    rows = await conn.fetch(
        f"SELECT {_RUN_COLUMNS} FROM learning.prompt_evaluations "
        "WHERE team_id = $1::uuid AND prompt_id = $2::uuid AND ($3::int IS NULL OR version = $3) "
        "ORDER BY started_at DESC, id LIMIT $4",
        team_id,
        prompt_id,
        version,
        limit,
    )
    return [_run(r) for r in rows]


async def cases(conn: Connection, team_id: str, run_id: str) -> list[CaseRow]:
    rows = await conn.fetch(
        "SELECT case_id, passed, output, latency_ms, cost_usd, input_tokens, output_tokens, error, "
        "assertions FROM learning.prompt_evaluation_cases "
        "WHERE team_id = $1::uuid AND evaluation_id = $2::uuid ORDER BY position",
        team_id,
        run_id,
    )
    return [
        CaseRow(
            r["case_id"],
            r["passed"],
            r["output"],
            r["latency_ms"],
            r["cost_usd"],
            r["input_tokens"],
            r["output_tokens"],
            r["error"],
            _json(r["assertions"]),
        )
        for r in rows
    ]
