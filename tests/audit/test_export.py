"""Exporting a team's audit log as JSON lines and CSV: streamed, exact, and verifiable on its own."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import asyncpg
import pytest

from services.audit.chain import ChainHead, verify_chain
from services.audit.formats import CSV_COLUMNS, from_csv_row, from_json_line
from services.audit.models import ActorKind, AuditActor, AuditEntry, AuditQuery, NewAuditEntry
from services.audit.store import ExportFormat, append, export, query
from tests.audit.conftest import new_entry

AWKWARD = NewAuditEntry(
    actor=AuditActor(
        kind=ActorKind.SESSION,
        user_id="u1",
        ip="::ffff:192.0.2.1",
        user_agent='Mozilla/5.0, "quoted"\r\nsecond line =cmd|x',
    ),
    action="budgets.update",
    resource_type="budget",
    resource_id="b,1",
    before={"limit_usd": Decimal("100.10"), "note": 'line1\nline2, "q"', "tags": ["ü", "日本"]},
    after={"limit_usd": Decimal("0.1000000000000000000000000000000001"), "big": 10**40, "none": None},
    correlation_id="c-1",
)


async def collect(conn: asyncpg.Connection, team: str, format: ExportFormat) -> list[bytes]:
    return [chunk async for chunk in export(conn, team, format)]


@pytest.fixture
async def stored(pool: asyncpg.Pool, team: str, other_team: str) -> list[AuditEntry]:
    """The team's entries, oldest first: ordinary ones and one full of awkward characters and
    numbers; the other team has entries too, which must not be exported."""
    async with pool.acquire() as conn:
        for n in range(4):
            await append(conn, team, new_entry(n))
        await append(conn, team, AWKWARD)
        await append(conn, team, new_entry(5))
        await append(conn, other_team, new_entry(9))
        page = await query(conn, team, AuditQuery(limit=500))
    return list(reversed(page.entries))


async def test_jsonl_round_trips_and_reverifies(
    pool: asyncpg.Pool, team: str, stored: list[AuditEntry]
) -> None:
    """Each JSON line parses back into exactly the stored entry, and the parsed chain verifies."""
    async with pool.acquire() as conn:
        data = b"".join(await collect(conn, team, "jsonl"))
    lines = data.decode().splitlines()

    assert len(lines) == len(stored)
    assert all(json.loads(line)["team_id"] == team for line in lines)
    parsed = [from_json_line(line) for line in lines]
    assert parsed == stored
    assert parsed[4].after["limit_usd"] == Decimal("0.1000000000000000000000000000000001")
    assert verify_chain(parsed, head=ChainHead(seq=stored[-1].seq, hash=stored[-1].hash)) == []


async def test_csv_round_trips_and_reverifies(
    pool: asyncpg.Pool, team: str, stored: list[AuditEntry]
) -> None:
    """The CSV parses with the csv module back into exactly the stored entries, which verify."""
    async with pool.acquire() as conn:
        data = b"".join(await collect(conn, team, "csv"))
    reader = csv.DictReader(io.StringIO(data.decode(), newline=""))

    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert len(rows) == len(stored)
    assert rows[4]["actor_user_agent"] == 'Mozilla/5.0, "quoted"\r\nsecond line =cmd|x'
    parsed = [from_csv_row(row) for row in rows]
    assert parsed == stored
    assert verify_chain(parsed, head=ChainHead(seq=stored[-1].seq, hash=stored[-1].hash)) == []


async def test_tampered_export_fails_verification(
    pool: asyncpg.Pool, team: str, stored: list[AuditEntry]
) -> None:
    """An export edited after the fact (one value in one line) no longer verifies."""
    async with pool.acquire() as conn:
        lines = b"".join(await collect(conn, team, "jsonl")).decode().splitlines()
    lines[1] = lines[1].replace('"key 1"', '"key one"')
    problems = verify_chain([from_json_line(line) for line in lines])
    assert [(p.kind.value, p.seq) for p in problems] == [("altered", 2)]


async def test_export_streams_in_chunks(pool: asyncpg.Pool, team: str) -> None:
    """A log larger than one chunk arrives as several chunks, in order, whole lines per chunk."""
    bulky = {"blob": "x" * 2000}
    async with pool.acquire() as conn:
        for n in range(120):
            entry = new_entry(n)
            await append(conn, team, NewAuditEntry(**{**dict(entry), "after": {**bulky, "n": n}}))
        formats: tuple[ExportFormat, ...] = ("jsonl", "csv")
        for format in formats:
            chunks = await collect(conn, team, format)
            assert len(chunks) > 2
            if format == "jsonl":
                assert all(chunk.endswith(b"\n") for chunk in chunks)
                seqs = [from_json_line(line).seq for line in b"".join(chunks).splitlines()]
            else:
                rows = csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline=""))
                seqs = [int(row["seq"]) for row in rows]
            assert seqs == list(range(1, 121))


async def test_export_of_an_empty_log_and_unknown_format(pool: asyncpg.Pool, team: str) -> None:
    """A team without entries exports nothing (CSV: the header); an unknown format is refused at once."""
    async with pool.acquire() as conn:
        assert await collect(conn, team, "jsonl") == []
        assert b"".join(await collect(conn, team, "csv")).decode().splitlines() == [",".join(CSV_COLUMNS)]
        with pytest.raises(ValueError, match="unknown export format"):
            export(conn, team, "xml")  # type: ignore[arg-type]
