"""The audit log in PostgreSQL (schema `super_agent`, migration 0006_audit.sql).

Recording: call `append` inside the transaction that makes the audited change, so both commit or
neither does:

    async with conn.transaction():
        key, token = await apikeys.create(conn, ...)
        await audit.append(conn, team_id, NewAuditEntry(actor=..., action="apikeys.create", ...))

`append` locks the team's row in `audit_heads` until that transaction ends: appends of one team
are serialised (the chain cannot fork), appends of different teams do not wait for each other.
Make it the transaction's last statement, so the lock is held briefly, and append to one team per
transaction (two transactions appending to teams A and B in opposite orders would deadlock; one of
them then fails and can be retried). In REPEATABLE READ or SERIALIZABLE transactions a concurrent
append makes `append` fail with a serialization error: retry the whole transaction.
Called outside a transaction, `append` runs in one of its own.

`occurred_at` is the transaction's `now()`, the same instant the change's own timestamps carry;
the order of a team's entries is `seq`, not `occurred_at` (a transaction that started earlier can
append later).

Reading (`query`, `export`, `verify_team`, `verify_all`) is always scoped to a team, or goes team by
team. Outside a transaction each read runs in a read-only REPEATABLE READ snapshot, so a verify
never mistakes an append in flight for tampering; inside one, the caller's snapshot is used (use
REPEATABLE READ for verify). `export` returns an async iterator that holds its transaction open
until exhausted or closed: consume it to the end or wrap it in `contextlib.aclosing`.

Removing entries: only `purge_team`, for the purge of a team's data (see the migration).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, ValidationError

from services.audit.canonical import canonical_json, parse_json
from services.audit.chain import ChainHead, ChainProblem, ChainVerifier, genesis_hash, seal
from services.audit.formats import CSV_COLUMNS, to_csv_row, to_json_line
from services.audit.models import (
    AuditContent,
    AuditEntry,
    AuditPage,
    AuditQuery,
    NewAuditEntry,
    encode_cursor,
    team_uuid,
)
from shared.db.inbox import Connection

__all__ = [
    "ExportFormat",
    "VerifyReport",
    "append",
    "export",
    "purge_team",
    "query",
    "verify_all",
    "verify_team",
]

ExportFormat = Literal["jsonl", "csv"]

# Export chunks: a few hundred entries per write to the client, never the whole log in memory.
_CHUNK_BYTES = 64 * 1024
_FETCH_ROWS = 500

_COLUMNS = (
    "team_id::text AS team_id, seq, id::text AS id, occurred_at, actor_kind, actor_user_id, "
    "actor_api_key_id, actor_session_id, actor_ip, actor_user_agent, action, resource_type, "
    "resource_id, before::text AS before, after::text AS after, correlation_id, prev_hash, hash"
)

_LOCK_HEAD = "SELECT seq, hash, now() AS now FROM super_agent.audit_heads WHERE team_id = $1::uuid FOR UPDATE"

_INSERT = """
WITH inserted AS (
    INSERT INTO super_agent.audit_entries (
        team_id, seq, id, occurred_at, actor_kind, actor_user_id, actor_api_key_id, actor_session_id,
        actor_ip, actor_user_agent, action, resource_type, resource_id, before, after, correlation_id,
        prev_hash, hash
    )
    VALUES (
        $1::uuid, $2, $3::uuid, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::jsonb,
        $15::text::jsonb, $16, $17, $18
    )
    RETURNING team_id, seq, hash
)
UPDATE super_agent.audit_heads h SET seq = i.seq, hash = i.hash, updated_at = now()
FROM inserted i WHERE h.team_id = i.team_id
"""


class VerifyReport(BaseModel):
    """The verdict on one team's chain."""

    model_config = ConfigDict(frozen=True)

    team_id: str
    entries_checked: int
    head_seq: int | None  # None: no head row
    problems: tuple[ChainProblem, ...]  # the first `max_problems` of them
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


async def append(conn: Connection, team_id: str, entry: NewAuditEntry) -> AuditEntry:
    """Record `entry` as the next entry of the team's chain; see the module's notes on transactions."""
    team = team_uuid(team_id)
    if conn.is_in_transaction():
        return await _append(conn, team, entry)
    async with conn.transaction():
        return await _append(conn, team, entry)


async def _append(conn: Connection, team: str, new: NewAuditEntry) -> AuditEntry:
    head = await conn.fetchrow(_LOCK_HEAD, team)
    if head is None:
        # The team's first entry. A concurrent first append waits here on the primary key, then
        # inserts nothing; both then queue on the row lock below.
        await conn.execute(
            "INSERT INTO super_agent.audit_heads (team_id, seq, hash) VALUES ($1::uuid, 0, $2) "
            "ON CONFLICT (team_id) DO NOTHING",
            team,
            genesis_hash(team),
        )
        head = await conn.fetchrow(_LOCK_HEAD, team)
        if head is None:  # only if a purge removed it in between
            raise RuntimeError(f"the audit head of team {team} vanished during an append")
    content = AuditContent.model_validate(
        {
            **{name: getattr(new, name) for name in NewAuditEntry.model_fields},
            "id": str(uuid4()),
            "team_id": team,
            "seq": head["seq"] + 1,
            "occurred_at": head["now"],
        }
    )
    entry = seal(content, head["hash"])
    actor = entry.actor
    status: str = await conn.execute(
        _INSERT,
        entry.team_id,
        entry.seq,
        entry.id,
        entry.occurred_at,
        actor.kind.value,
        actor.user_id,
        actor.api_key_id,
        actor.session_id,
        actor.ip,
        actor.user_agent,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        None if entry.before is None else canonical_json(entry.before),
        None if entry.after is None else canonical_json(entry.after),
        entry.correlation_id,
        entry.prev_hash,
        entry.hash,
    )
    if status != "UPDATE 1":
        raise RuntimeError(f"the audit head of team {team} was not moved ({status})")
    return entry


async def query(conn: Connection, team_id: str, q: AuditQuery) -> AuditPage:
    """One page of the team's entries that match `q`, newest first."""
    args: list[Any] = [team_uuid(team_id)]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    conditions = ["team_id = $1::uuid"]
    if q.action is not None:
        # Whole segments: the action itself, or anything below it. `action` sorts byte-wise
        # (COLLATE "C") and '/' follows '.', so the range is exactly the strings starting 'a.b.'.
        prefix = arg(q.action)
        conditions.append(f"(action = {prefix} OR (action >= {prefix} || '.' AND action < {prefix} || '/'))")
    if q.resource_type is not None:
        conditions.append(f"resource_type = {arg(q.resource_type)}")
    if q.resource_id is not None:
        conditions.append(f"resource_id = {arg(q.resource_id)}")
    if q.actor_user_id is not None:
        conditions.append(f"actor_user_id = {arg(q.actor_user_id)}")
    if q.actor_api_key_id is not None:
        conditions.append(f"actor_api_key_id = {arg(q.actor_api_key_id)}")
    if q.since is not None:
        conditions.append(f"occurred_at >= {arg(q.since)}")
    if q.until is not None:
        conditions.append(f"occurred_at < {arg(q.until)}")
    before_seq = q.before_seq
    if before_seq is not None:
        conditions.append(f"seq < {arg(before_seq)}")
    limit = arg(q.limit + 1)  # one more tells whether there is a next page
    sql = (
        f"SELECT {_COLUMNS} FROM super_agent.audit_entries WHERE {' AND '.join(conditions)} "
        f"ORDER BY seq DESC LIMIT {limit}"
    )
    rows = await conn.fetch(sql, *args)
    entries = tuple(_entry(row) for row in rows[: q.limit])
    next_cursor = encode_cursor(entries[-1].seq) if len(rows) > q.limit else None
    return AuditPage(entries=entries, next_cursor=next_cursor)


def export(conn: Connection, team_id: str, format: ExportFormat) -> AsyncIterator[bytes]:
    """The team's whole log, oldest first, as chunks of JSON lines or CSV (see formats.py),
    streamed from a server-side cursor."""
    team = team_uuid(team_id)
    if format not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {format!r}: use 'jsonl' or 'csv'")
    return _export(conn, team, format)


async def _export(conn: Connection, team: str, format: ExportFormat) -> AsyncIterator[bytes]:
    async with _snapshot(conn):
        if format == "jsonl":
            chunk = bytearray()
            async for row in _rows(conn, team):
                chunk += to_json_line(_entry(row))
                if len(chunk) >= _CHUNK_BYTES:
                    yield bytes(chunk)
                    chunk.clear()
            if chunk:
                yield bytes(chunk)
            return
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        async for row in _rows(conn, team):
            writer.writerow(to_csv_row(_entry(row)))
            if text.tell() >= _CHUNK_BYTES:
                yield text.getvalue().encode("utf-8")
                text.seek(0)
                text.truncate()
        if text.tell():
            yield text.getvalue().encode("utf-8")


async def verify_team(
    conn: Connection, team_id: str, *, anchor: ChainHead | None = None, max_problems: int = 100
) -> VerifyReport:
    """Check the team's whole chain against its head row (and `anchor`, a head kept elsewhere)."""
    team = team_uuid(team_id)
    async with _snapshot(conn):
        head_row = await conn.fetchrow(
            "SELECT seq, hash FROM super_agent.audit_heads WHERE team_id = $1::uuid", team
        )
        head = ChainHead(seq=head_row["seq"], hash=head_row["hash"]) if head_row is not None else None
        verifier = ChainVerifier(team, anchor=anchor, max_problems=max_problems)
        async for row in _rows(conn, team):
            try:
                entry = _entry(row)
            except ValueError as error:  # pydantic's ValidationError included
                verifier.feed_malformed(row["seq"], row["hash"], _first_error(error))
            else:
                verifier.feed(entry)
        problems = verifier.finish(head)
    return VerifyReport(
        team_id=team,
        entries_checked=verifier.entries_checked,
        head_seq=head.seq if head is not None else None,
        problems=tuple(problems),
        problem_count=verifier.problem_count,
    )


async def verify_all(conn: Connection, *, max_problems: int = 100) -> list[VerifyReport]:
    """`verify_team` for every team with an audit head or entries, by team id."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE teams AS (  -- the distinct team ids of the entries, one index probe each
            (SELECT team_id FROM super_agent.audit_entries ORDER BY team_id LIMIT 1)
            UNION ALL
            SELECT (SELECT e.team_id FROM super_agent.audit_entries e
                    WHERE e.team_id > t.team_id ORDER BY e.team_id LIMIT 1)
            FROM teams t WHERE t.team_id IS NOT NULL
        )
        SELECT team_id FROM teams WHERE team_id IS NOT NULL
        UNION
        SELECT team_id FROM super_agent.audit_heads
        ORDER BY team_id
        """
    )
    return [await verify_team(conn, str(row["team_id"]), max_problems=max_problems) for row in rows]


async def purge_team(conn: Connection, team_ids: Sequence[str]) -> int:
    """Delete the teams' audit entries and heads (the purge of a team's data); rows deleted.

    The only sanctioned way past the append-only triggers: it sets `mno.audit_purge` for its own
    statements only, and runs in the caller's transaction (or its own).
    """
    teams = [team_uuid(team) for team in team_ids]
    if not teams:
        return 0
    if conn.is_in_transaction():
        return await _purge(conn, teams)
    async with conn.transaction():
        return await _purge(conn, teams)


async def _purge(conn: Connection, teams: list[str]) -> int:
    await conn.execute("SELECT set_config('mno.audit_purge', 'on', true)")
    # Heads first: that waits for appends in flight (they hold the head's lock), whose entries the
    # second statement then sees and deletes too.
    heads: str = await conn.execute(
        "DELETE FROM super_agent.audit_heads WHERE team_id = ANY($1::uuid[])", teams
    )
    entries: str = await conn.execute(
        "DELETE FROM super_agent.audit_entries WHERE team_id = ANY($1::uuid[])", teams
    )
    # The rest of the caller's transaction gets no licence to delete history.
    await conn.execute("SELECT set_config('mno.audit_purge', 'off', true)")
    return int(heads.split()[-1]) + int(entries.split()[-1])


def _entry(row: Any) -> AuditEntry:
    return AuditEntry.model_validate(
        {
            "id": row["id"],
            "team_id": row["team_id"],
            "seq": row["seq"],
            "occurred_at": row["occurred_at"],
            "actor": {
                "kind": row["actor_kind"],
                "user_id": row["actor_user_id"],
                "api_key_id": row["actor_api_key_id"],
                "session_id": row["actor_session_id"],
                "ip": row["actor_ip"],
                "user_agent": row["actor_user_agent"],
            },
            "action": row["action"],
            "resource_type": row["resource_type"],
            "resource_id": row["resource_id"],
            "before": parse_json(row["before"]) if row["before"] is not None else None,
            "after": parse_json(row["after"]) if row["after"] is not None else None,
            "correlation_id": row["correlation_id"],
            "prev_hash": row["prev_hash"],
            "hash": row["hash"],
        }
    )


async def _rows(conn: Connection, team: str) -> AsyncIterator[Any]:
    """The team's entries in seq order, fetched a batch at a time (needs a transaction)."""
    cursor = conn.cursor(
        f"SELECT {_COLUMNS} FROM super_agent.audit_entries WHERE team_id = $1::uuid ORDER BY seq",
        team,
        prefetch=_FETCH_ROWS,
    )
    async for row in cursor:
        yield row


@asynccontextmanager
async def _snapshot(conn: Connection) -> AsyncIterator[None]:
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield


def _first_error(error: ValueError) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(error)
