"""A team's read of its account's GitHub link (`/api/v1/github/...`) through the real edge: installations,
their repositories and the webhook deliveries, each made by signed deliveries as GitHub sends them.
Team A never sees team B's installations, repositories or deliveries, and the other way round."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role
from tests.fixtures import github_link as gh
from tests.fixtures.mesh import TOKEN, MeshLauncher, deep_merge
from tests.identity.test_teams_support import Person, join, person, request, user

INSTALLATIONS = "/api/v1/github/installations"
DELIVERIES = "/api/v1/github/deliveries"
# GitHub's documented marketplace_purchase example carries this installation id whatever the buyer
# (tests/marketplace/factories.py): A's installation gets it, so B's purchase names A's installation.
A_INSTALLATION, B_INSTALLATION = 2311213, 9102
ORG_A, ORG_B = gh.org(7101, "org-a"), gh.org(7102, "org-b")


@dataclass(frozen=True)
class Linked:
    base: str
    pool: asyncpg.Pool
    a_viewer: Person
    a_second_team: Person  # a member of another team of A's account
    b_owner: Person
    local: Person  # an owner in an account without GitHub (made by `mno run`)
    a_guids: frozenset[str]
    b_guids: frozenset[str]
    ping_guid: str


async def default_team(pool: asyncpg.Pool, github_id: int) -> str:
    team: str = await pool.fetchval(
        "SELECT t.id::text FROM super_agent.teams t JOIN super_agent.accounts a ON a.id = t.account_id "
        "WHERE a.github_id = $1 AND t.is_default",
        github_id,
    )
    return team


@pytest.fixture
async def linked(launcher: MeshLauncher) -> AsyncIterator[Linked]:
    """Two GitHub accounts linked by real deliveries (installation, repositories, Marketplace, a push),
    a hook ping that is no account's, and people of each account and of a local account."""
    launcher.overrides = deep_merge(launcher.overrides, {"github": gh.WEBHOOK_SECRETS})
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        base = launcher.edge_url
        a_repos = gh.repos(ORG_A, "api", "web", "infra", first_id=810_001)
        a_created = await gh.send(
            base, gh.installation_created(A_INSTALLATION, ORG_A, a_repos), "installation"
        )
        b_created = await gh.send(
            base,
            gh.installation_created(
                B_INSTALLATION, ORG_B, gh.repos(ORG_B, "secret-b", "b2", first_id=820_001)
            ),
            "installation",
        )
        await gh.settled(pool, [a_created, b_created])
        a_guids = [
            a_created,
            await gh.send(
                base,
                gh.repositories_added(A_INSTALLATION, ORG_A, gh.repos(ORG_A, "docs", first_id=810_010)),
                "installation_repositories",
            ),
            await gh.send(base, {"ref": "refs/heads/main", "installation": {"id": A_INSTALLATION}}, "push"),
            await gh.send(base, gh.marketplace_purchased(ORG_A), "marketplace_purchase", marketplace=True),
        ]
        b_guids = [
            b_created,
            await gh.send(base, gh.marketplace_purchased(ORG_B), "marketplace_purchase", marketplace=True),
        ]
        ping = await gh.send(base, {"zen": "Keep it logically awesome.", "hook_id": 77}, "ping")
        await gh.settled(pool, [*a_guids, *b_guids, ping])

        a_team, b_team = await default_team(pool, 7101), await default_team(pool, 7102)
        a_account = await pool.fetchval(
            "SELECT account_id::text FROM super_agent.teams WHERE id = $1::uuid", a_team
        )
        second = await pool.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name) VALUES ($1::uuid, 'a-two', 'A two') "
            "RETURNING id::text",
            a_account,
        )
        local_account = await pool.fetchval(
            "INSERT INTO super_agent.accounts (login, kind) VALUES ('local-x', 'Local') RETURNING id::text"
        )
        local_team = await pool.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1::uuid, 'local-x', 'local-x', true) RETURNING id::text",
            local_account,
        )
        yield Linked(
            base,
            pool,
            await person(pool, a_team, "a-viewer", Role.VIEWER),
            await join(pool, second, await user(pool, "a-two-member"), "a-two-member", Role.MEMBER),
            await person(pool, b_team, "b-owner", Role.OWNER),
            await person(pool, local_team, "local-owner", Role.OWNER),
            frozenset(a_guids),
            frozenset(b_guids),
            ping,
        )
    finally:
        await pool.close()


async def all_deliveries(base: str, who: Person, limit: int) -> list[dict[str, object]]:
    """Every page of the caller's ledger, `limit` at a time."""
    found: list[dict[str, object]] = []
    params = {"limit": str(limit)}
    while True:
        status, page = await request(base, "GET", DELIVERIES, who.headers(), params=params)
        assert status == 200, page
        found += page["deliveries"]
        if page["next_before"] is None:
            return found
        params["before"] = str(page["next_before"])


async def test_a_team_sees_its_accounts_installations_and_repositories_only(linked: Linked) -> None:
    """A's viewer (and a member of A's other team) see A's installation with its four repositories,
    paged; B's owner sees B's; A asking for B's installation's repositories gets a typed 404."""
    for who in (linked.a_viewer, linked.a_second_team):
        status, page = await request(linked.base, "GET", INSTALLATIONS, who.headers())
        assert status == 200, page
        assert [
            (i["github_id"], i["account_login"], i["status"], i["repositories"])
            for i in page["installations"]
        ] == [(A_INSTALLATION, "org-a", "active", 4)]
    path = f"{INSTALLATIONS}/{A_INSTALLATION}/repositories"
    status, first = await request(linked.base, "GET", path, linked.a_viewer.headers(), params={"limit": "3"})
    assert status == 200, first
    status, rest = await request(
        linked.base, "GET", path, linked.a_viewer.headers(), params={"after": str(first["next_after"])}
    )
    assert status == 200, rest
    assert rest["next_after"] is None
    names = [r["full_name"] for r in first["repositories"] + rest["repositories"]]
    assert names == ["org-a/api", "org-a/web", "org-a/infra", "org-a/docs"]
    assert [r["private"] for r in first["repositories"]] == [False, True, False]

    status, b_page = await request(linked.base, "GET", INSTALLATIONS, linked.b_owner.headers())
    assert status == 200, b_page
    assert [i["github_id"] for i in b_page["installations"]] == [B_INSTALLATION]
    for who, other in ((linked.a_viewer, B_INSTALLATION), (linked.b_owner, A_INSTALLATION)):
        status, refused = await request(
            linked.base, "GET", f"{INSTALLATIONS}/{other}/repositories", who.headers()
        )
        assert status == 404, refused
        assert refused["error"]["code"] == "not_found"
        assert "org-" not in json.dumps(refused)


async def test_a_team_sees_the_deliveries_about_its_account_only(linked: Linked) -> None:
    """A's ledger is exactly A's four deliveries (not B's purchase, though it names A's installation id,
    nor the hook ping), newest first, every one once across pages, without payloads or errors; B's
    ledger is B's two; the event filter narrows it."""
    a = await all_deliveries(linked.base, linked.a_viewer, limit=3)
    assert {d["guid"] for d in a} == linked.a_guids
    assert len(a) == len(linked.a_guids)
    ids = [d["id"] for d in a]
    assert ids == sorted(ids, reverse=True)
    assert {key for d in a for key in d} & {"payload", "last_error", "hook_id"} == set()
    statuses = {d["event"]: d["status"] for d in a}
    assert statuses["installation"] == "processed"
    assert statuses["push"] == "ignored"
    assert {
        d["guid"] for d in await all_deliveries(linked.base, linked.a_second_team, limit=50)
    } == linked.a_guids
    b = await all_deliveries(linked.base, linked.b_owner, limit=1)
    assert {d["guid"] for d in b} == linked.b_guids
    status, bought = await request(
        linked.base, "GET", DELIVERIES, linked.a_viewer.headers(), params={"event": "marketplace_purchase"}
    )
    assert status == 200, bought
    assert [d["endpoint"] for d in bought["deliveries"]] == ["marketplace"]
    assert bought["deliveries"][0]["guid"] in linked.a_guids
    everyone = {
        d["guid"]
        for who in (linked.a_viewer, linked.b_owner)
        for d in await all_deliveries(linked.base, who, 50)
    }
    assert linked.ping_guid not in everyone


async def test_an_account_without_github_and_credentials_without_the_permission(linked: Linked) -> None:
    """A local account's team sees empty lists; a key without github:read and the operator token (no
    team) are refused with 403."""
    for path in (INSTALLATIONS, DELIVERIES):
        status, page = await request(linked.base, "GET", path, linked.local.headers())
        assert status == 200, page
        assert page[path.rsplit("/", 1)[1]] == []
    async with linked.pool.acquire() as conn:
        _, narrow = await apikeys.create(
            conn,
            team_id=linked.a_viewer.team_id,
            name="mesh only",
            permissions=[Permission.MESH_READ],
            created_by=linked.a_viewer.user_id,
        )
    for token in (str(narrow), TOKEN):
        for path in (INSTALLATIONS, DELIVERIES, f"{INSTALLATIONS}/{A_INSTALLATION}/repositories"):
            status, refused = await request(linked.base, "GET", path, {"Authorization": f"Bearer {token}"})
            assert status == 403, (path, refused)
            assert "org-a" not in json.dumps(refused)
