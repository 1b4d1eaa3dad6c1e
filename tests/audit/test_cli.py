"""`mno audit verify` (services.audit.cli.verify_command): exit codes and what it prints."""

from __future__ import annotations

import asyncio
import io
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console

from services.audit.cli import verify_command
from services.audit.store import append
from tests.audit.conftest import new_entry
from tests.fixtures.stack import free_port


async def run(dsn: str) -> tuple[int, str]:
    """verify_command as the CLI runs it (its own event loop, so in a thread), and its output."""
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    code = await asyncio.to_thread(verify_command, dsn, console=console)
    return code, out.getvalue()


async def test_intact_logs_exit_zero(
    database_dsn: str, pool: asyncpg.Pool, team: str, other_team: str
) -> None:
    """With every chain intact (and with no entries at all) the command exits 0."""
    assert (await run(database_dsn))[0] == 0
    async with pool.acquire() as conn:
        for n in range(3):
            await append(conn, team, new_entry(n))
        await append(conn, other_team, new_entry(0))

    code, output = await run(database_dsn)
    assert code == 0
    assert team in output
    assert other_team in output
    assert output.count("intact") >= 2
    assert "TAMPERED" not in output


async def test_tampered_log_exits_one(
    database_dsn: str, pool: asyncpg.Pool, team: str, other_team: str
) -> None:
    """After an entry is altered the command exits 1 and names the team and its first problem."""
    async with pool.acquire() as conn:
        for n in range(3):
            await append(conn, team, new_entry(n))
            await append(conn, other_team, new_entry(n))
        await conn.execute("ALTER TABLE super_agent.audit_entries DISABLE TRIGGER audit_entries_append_only")
        await conn.execute(
            "UPDATE super_agent.audit_entries SET before = NULL WHERE team_id = $1::uuid AND seq = 2", team
        )

    code, output = await run(database_dsn)
    assert code == 1
    tampered_line = next(line for line in output.splitlines() if team in line)
    assert "TAMPERED" in tampered_line
    assert "altered" in tampered_line
    assert "intact" in next(line for line in output.splitlines() if other_team in line)


async def test_unreachable_or_unmigrated_database_exits_two(postgres_dsn: str) -> None:
    """When it cannot check at all (no server, no audit tables) it exits 2, neither 0 nor 1."""
    code, output = await run(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    assert code == 2
    assert "cannot connect" in output

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        code, output = await run(urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}")))
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    assert code == 2
    assert "mno migrate" in output
