"""The audit log over HTTP (the SuperAgent process): identity writes recorded with actor and IP,
GET /api/v1/audit with its filters and cursor pages, and exports (JSON lines, CSV) whose hash chain
verifies offline."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from services.audit.chain import verify_chain
from services.audit.formats import from_csv_row, from_json_line
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Role
from tests.fixtures.mesh import MeshLauncher
from tests.identity.test_teams_support import Person, account, person, request


@pytest.fixture
async def audited(launcher: MeshLauncher) -> AsyncIterator[tuple[str, asyncpg.Pool, Person, Person]]:
    """An owner who made five writes in their team, and a member (who may not read the log)."""
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        base = launcher.edge_url
        _, home = await account(pool, "acme")
        owner = await person(pool, home, "root", Role.OWNER)
        member = await person(pool, home, "bob", Role.MEMBER)
        for method, path, body in (
            ("PATCH", f"/api/v1/teams/{home}", {"name": "Acme Inc"}),
            ("POST", "/api/v1/invitations", {"github_login": "newbie"}),
            ("PATCH", f"/api/v1/members/{member.user_id}", {"role": "viewer"}),
            ("PATCH", f"/api/v1/members/{member.user_id}", {"role": "member"}),
            ("POST", "/api/v1/teams", {"name": "Second"}),
        ):
            status, answer = await request(base, method, path, owner.headers(), body)
            assert status in (200, 201), answer
        yield base, pool, owner, member
    finally:
        await pool.close()


async def test_writes_are_listed_newest_first_with_actor_and_ip(
    audited: tuple[str, asyncpg.Pool, Person, Person],
) -> None:
    """Every write is an entry naming the session actor and the client's IP; the member gets 403."""
    base, _, owner, member = audited
    status, page = await request(base, "GET", "/api/v1/audit", owner.headers())
    assert status == 200
    actions = [e["action"] for e in page["entries"]]
    assert actions == [
        "teams.create",
        "members.role_change",
        "members.role_change",
        "invitations.create",
        "teams.update",
    ]
    for entry in page["entries"]:
        assert entry["actor"]["kind"] == "session"
        assert entry["actor"]["user_id"] == owner.user_id
        assert entry["actor"]["ip"] == "127.0.0.1"
    assert page["entries"][4]["before"] == {"name": "acme", "slug": "acme", "deleted": False}
    assert page["entries"][4]["after"]["name"] == "Acme Inc"
    status, denied = await request(base, "GET", "/api/v1/audit", member.headers())
    assert status == 403
    assert denied["error"]["code"] == "forbidden"


async def test_filters_and_cursor_pages(audited: tuple[str, asyncpg.Pool, Person, Person]) -> None:
    """Action (by segment), actor, resource and time filters narrow the list; pages never skip or repeat."""
    base, _, owner, member = audited

    async def actions(**params: str) -> list[str]:
        status, page = await request(base, "GET", "/api/v1/audit", owner.headers(), params=params)
        assert status == 200, page
        return [e["action"] for e in page["entries"]]

    assert await actions(action="members") == ["members.role_change", "members.role_change"]
    assert await actions(action="teams.update") == ["teams.update"]
    assert await actions(resource="invitation") == ["invitations.create"]
    assert await actions(resource="member", resource_id=member.user_id) == ["members.role_change"] * 2
    assert len(await actions(actor=owner.user_id)) == 5
    assert await actions(actor=member.user_id) == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await actions(since=future) == []
    assert len(await actions(until=future)) == 5

    seen: list[int] = []
    params = {"limit": "2"}
    while True:
        status, page = await request(base, "GET", "/api/v1/audit", owner.headers(), params=params)
        seen += [e["seq"] for e in page["entries"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": "2", "cursor": page["next_cursor"]}
    assert seen == [5, 4, 3, 2, 1]
    status, bad = await request(base, "GET", "/api/v1/audit", owner.headers(), params={"cursor": "nope"})
    assert status == 422
    assert bad["error"]["code"] == "validation_failed"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_export_verifies_offline(audited: tuple[str, asyncpg.Pool, Person, Person], fmt: str) -> None:
    """The export holds every entry of the team, oldest first, and its hash chain verifies."""
    base, _, owner, _ = audited
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/api/v1/audit/export", params={"format": fmt}, headers=owner.headers()) as response,
    ):
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        text = await response.text()
    if fmt == "jsonl":
        entries = [from_json_line(line) for line in text.splitlines()]
    else:
        entries = [from_csv_row(row) for row in csv.DictReader(io.StringIO(text))]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert verify_chain(entries) == []
    assert {e.team_id for e in entries} == {owner.team_id}
