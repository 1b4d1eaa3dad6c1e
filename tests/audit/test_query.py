"""Querying one team's audit log: filters, cursor pagination, limits, and team isolation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from pydantic import ValidationError

from services.audit.models import MAX_PAGE_SIZE, AuditEntry, AuditQuery, NewAuditEntry
from services.audit.store import append, query
from tests.audit.conftest import KEY_ACTOR, SESSION_ACTOR, USER, new_entry

ACTIONS = ["apikeys.create", "apikeys.revoke", "apikeys_legacy.create", "teams.members.add"]


def varied(n: int) -> NewAuditEntry:
    action = ACTIONS[n % 4]
    return new_entry(
        n,
        action=action,
        resource_type="team_member" if action.startswith("teams") else "api_key",
        resource_id=f"r{n % 3}",
        actor=KEY_ACTOR if n % 5 == 0 else SESSION_ACTOR,
    )


@pytest.fixture
async def entries(pool: asyncpg.Pool, team: str, other_team: str) -> list[AuditEntry]:
    """30 varied entries of `team` (oldest first); `other_team` gets 30 look-alikes."""
    async with pool.acquire() as conn:
        ours = [await append(conn, team, varied(n)) for n in range(30)]
        for n in range(30):
            await append(conn, other_team, varied(n))
    return ours


async def seqs(pool: asyncpg.Pool, team: str, **filters: object) -> list[int]:
    async with pool.acquire() as conn:
        page = await query(conn, team, AuditQuery.model_validate({"limit": MAX_PAGE_SIZE, **filters}))
    assert page.next_cursor is None
    return [entry.seq for entry in page.entries]


def expected(entries: list[AuditEntry], keep: Callable[[AuditEntry], bool]) -> list[int]:
    return [e.seq for e in reversed(entries) if keep(e)]


async def test_action_filter_matches_whole_segments(
    pool: asyncpg.Pool, team: str, entries: list[AuditEntry]
) -> None:
    """The action filter matches whole dotted segments: `apikeys` finds apikeys.* but not apikeys_legacy.*."""
    assert await seqs(pool, team, action="apikeys") == expected(
        entries, lambda e: e.action.startswith("apikeys.")
    )
    assert await seqs(pool, team, action="apikeys.create") == expected(
        entries, lambda e: e.action == "apikeys.create"
    )
    assert await seqs(pool, team, action="teams") == expected(
        entries, lambda e: e.action == "teams.members.add"
    )
    assert await seqs(pool, team, action="teams.members") == await seqs(pool, team, action="teams")
    assert await seqs(pool, team, action="apikeys.cre") == []


async def test_resource_actor_and_time_filters(
    pool: asyncpg.Pool, team: str, entries: list[AuditEntry]
) -> None:
    """Resource, actor user, API key and half-open time-range filters each narrow the result exactly."""
    assert await seqs(pool, team, resource_type="team_member") == expected(
        entries, lambda e: e.resource_type == "team_member"
    )
    assert await seqs(pool, team, resource_type="api_key", resource_id="r1") == expected(
        entries, lambda e: e.resource_type == "api_key" and e.resource_id == "r1"
    )
    assert await seqs(pool, team, actor_api_key_id=KEY_ACTOR.api_key_id) == expected(
        entries, lambda e: e.actor.api_key_id is not None
    )
    assert await seqs(pool, team, actor_user_id=USER) == expected(entries, lambda e: True)
    assert await seqs(pool, team, actor_user_id="someone-else") == []
    since, until = entries[10].occurred_at, entries[20].occurred_at
    assert await seqs(pool, team, since=since, until=until) == list(range(20, 10, -1))
    assert await seqs(pool, team, since=since, until=until, action="apikeys") == expected(
        entries, lambda e: since <= e.occurred_at < until and e.action.startswith("apikeys.")
    )


async def test_pages_have_no_duplicates_and_no_gaps(
    pool: asyncpg.Pool, team: str, entries: list[AuditEntry]
) -> None:
    """Cursor pages return every entry once, newest first, even while entries are appended between pages."""
    seen: list[int] = []
    pages = 0
    cursor: str | None = None
    async with pool.acquire() as conn:
        while True:
            page = await query(conn, team, AuditQuery(limit=7, cursor=cursor))
            pages += 1
            seen += [entry.seq for entry in page.entries]
            await append(conn, team, new_entry(100 + pages))  # newer entries must not shift pages
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == list(range(30, 0, -1))
    assert pages == 5


async def test_filtered_pages_have_no_duplicates_and_no_gaps(
    pool: asyncpg.Pool, team: str, entries: list[AuditEntry]
) -> None:
    """Paging with a filter walks exactly the filtered entries."""
    seen: list[int] = []
    cursor: str | None = None
    async with pool.acquire() as conn:
        while True:
            page = await query(conn, team, AuditQuery(action="apikeys", limit=4, cursor=cursor))
            assert len(page.entries) <= 4
            seen += [entry.seq for entry in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == expected(entries, lambda e: e.action.startswith("apikeys."))


def test_limit_and_cursor_are_validated() -> None:
    """A limit outside 1..500, a cursor we did not issue, or an inverted time range is refused."""
    assert AuditQuery(limit=MAX_PAGE_SIZE).limit == 500
    assert AuditQuery().limit == 100
    for bad in (0, -1, MAX_PAGE_SIZE + 1):
        with pytest.raises(ValidationError):
            AuditQuery(limit=bad)
    for cursor in ("not-a-cursor", "eyJ2IjoxLCJiZWZvcmUiOjB9", ""):
        with pytest.raises(ValidationError):
            AuditQuery(cursor=cursor)
    with pytest.raises(ValidationError):
        AuditQuery(action="apikeys.%")
    with pytest.raises(ValidationError):
        AuditQuery(since=datetime(2024, 5, 2, tzinfo=UTC), until=datetime(2024, 5, 1, tzinfo=UTC))


async def test_query_never_returns_another_teams_entries(
    pool: asyncpg.Pool, team: str, other_team: str, entries: list[AuditEntry]
) -> None:
    """Every query is scoped to its team, whatever the filters and whichever team's cursor is used."""
    async with pool.acquire() as conn:
        theirs = await query(conn, other_team, AuditQuery(limit=10))
        mixed = await query(conn, team, AuditQuery(limit=500, cursor=theirs.next_cursor))
        filtered = await query(conn, team, AuditQuery(limit=500, action="apikeys", actor_user_id=USER))
    assert {e.team_id for e in theirs.entries} == {other_team}
    assert {e.team_id for e in mixed.entries} == {team}
    assert [e.seq for e in mixed.entries] == list(range(20, 0, -1))
    assert {e.team_id for e in filtered.entries} == {team}
    assert {e.id for e in entries}.isdisjoint(e.id for e in theirs.entries)
