"""Tampering as an attacker with database rights would do it (triggers disabled): verify finds it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.audit.chain import ProblemKind
from services.audit.store import VerifyReport, append, verify_all, verify_team
from tests.audit.conftest import new_entry


@pytest.fixture
async def attacker(pool: asyncpg.Pool, team: str) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    """A connection to a team with 6 entries, the append-only triggers disabled."""
    async with pool.acquire() as conn:
        for n in range(6):
            await append(conn, team, new_entry(n))
        assert (await verify_team(conn, team)).ok
        await conn.execute(
            "ALTER TABLE super_agent.audit_entries DISABLE TRIGGER audit_entries_append_only;"
            "ALTER TABLE super_agent.audit_heads DISABLE TRIGGER audit_heads_forward_only"
        )
        yield conn


def found(report: VerifyReport) -> list[tuple[ProblemKind, int | None]]:
    return [(p.kind, p.seq) for p in report.problems]


async def test_altered_after_is_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Changing one entry's `after` makes verify report that entry as altered, and only it."""
    await attacker.execute(
        'UPDATE super_agent.audit_entries SET after = \'{"name": "innocent"}\'::jsonb '
        "WHERE team_id = $1::uuid AND seq = 3",
        team,
    )
    report = await verify_team(attacker, team)
    assert not report.ok
    assert found(report) == [(ProblemKind.ALTERED, 3)]


async def test_altered_actor_is_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Changing who did it (the IP address) is as visible as changing what was done."""
    await attacker.execute(
        "UPDATE super_agent.audit_entries SET actor_ip = '198.51.100.1' WHERE team_id = $1::uuid AND seq = 2",
        team,
    )
    assert found(await verify_team(attacker, team)) == [(ProblemKind.ALTERED, 2)]


async def test_deleted_middle_entry_is_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Deleting entry 4 of 6 is reported as a gap at 4."""
    await attacker.execute("DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid AND seq = 4", team)
    report = await verify_team(attacker, team)
    assert found(report) == [(ProblemKind.MISSING, 4)]
    assert report.entries_checked == 5


async def test_deleted_last_entry_is_detected_through_the_head(
    attacker: asyncpg.Connection, team: str
) -> None:
    """Deleting the newest entry leaves a valid-looking chain; the head row shows it is truncated."""
    await attacker.execute("DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid AND seq = 6", team)
    report = await verify_team(attacker, team)
    assert found(report) == [(ProblemKind.TRUNCATED, 6)]
    assert report.head_seq == 6


async def test_deleted_head_is_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Deleting the tail together with the head row does not pass either: no head, no trust."""
    await attacker.execute("DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid AND seq = 6", team)
    await attacker.execute("DELETE FROM super_agent.audit_heads WHERE team_id = $1::uuid", team)
    assert found(await verify_team(attacker, team)) == [(ProblemKind.NO_HEAD, None)]


async def test_swapped_contents_are_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Swapping what two entries say (action, resource, before, after) flags both entries."""
    await attacker.execute(
        """
        UPDATE super_agent.audit_entries a SET
            action = b.action, resource_id = b.resource_id, before = b.before, after = b.after,
            correlation_id = b.correlation_id
        FROM super_agent.audit_entries b
        WHERE a.team_id = $1::uuid AND b.team_id = a.team_id
          AND ((a.seq = 2 AND b.seq = 5) OR (a.seq = 5 AND b.seq = 2))
        """,
        team,
    )
    assert found(await verify_team(attacker, team)) == [(ProblemKind.ALTERED, 2), (ProblemKind.ALTERED, 5)]


async def test_swapped_rows_are_detected(attacker: asyncpg.Connection, team: str) -> None:
    """Swapping two whole rows' positions (seq) breaks their hashes and the links around them."""
    for old, new in ((2, 1000), (3, 2), (1000, 3)):
        await attacker.execute(
            "UPDATE super_agent.audit_entries SET seq = $3 WHERE team_id = $1::uuid AND seq = $2",
            team,
            old,
            new,
        )
    assert found(await verify_team(attacker, team)) == [
        (ProblemKind.BROKEN_LINK, 2),
        (ProblemKind.ALTERED, 2),
        (ProblemKind.BROKEN_LINK, 3),
        (ProblemKind.ALTERED, 3),
        (ProblemKind.BROKEN_LINK, 4),
    ]


async def test_forged_row_that_is_not_an_entry_is_reported_not_crashed(
    attacker: asyncpg.Connection, team: str
) -> None:
    """A forged row that is not a valid entry is reported as malformed and verification goes on."""
    await attacker.execute(
        "UPDATE super_agent.audit_entries SET action = 'DROP TABLE' WHERE team_id = $1::uuid AND seq = 2",
        team,
    )
    report = await verify_team(attacker, team)
    assert found(report) == [(ProblemKind.MALFORMED, 2)]
    assert report.entries_checked == 6


async def test_verify_all_names_only_the_tampered_team(
    pool: asyncpg.Pool, team: str, other_team: str
) -> None:
    """With two teams, verify_all reports the tampered one and passes the other."""
    async with pool.acquire() as conn:
        for n in range(3):
            await append(conn, team, new_entry(n))
            await append(conn, other_team, new_entry(n))
        await conn.execute("ALTER TABLE super_agent.audit_entries DISABLE TRIGGER audit_entries_append_only")
        await conn.execute(
            "DELETE FROM super_agent.audit_entries WHERE team_id = $1::uuid AND seq = 1", other_team
        )
        reports = {r.team_id: r for r in await verify_all(conn)}

    assert set(reports) == {team, other_team}
    assert reports[team].ok
    assert found(reports[other_team]) == [(ProblemKind.MISSING, 1)]
