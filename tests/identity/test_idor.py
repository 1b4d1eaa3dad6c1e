"""IDOR: every route of the table that takes an id in its path, called by team B with team A's ids,
answers 404 with a typed error, shows none of A's data and changes nothing of A's.

The suite walks the route table: a route with a path parameter and no case here (nor a reasoned
exemption) fails `test_every_route_with_an_id_has_an_idor_case`, so a new route cannot skip it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from agents.super_agent.routes import ROUTES
from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures.mesh import MeshLauncher, deep_merge
from tests.identity.test_teams_support import Person, account, person, request


@dataclass(frozen=True)
class TeamA:
    """Team A's resources, whose ids team B tries."""

    home: str  # A's default team
    other_team: str  # a second team of A's account
    owner: Person
    member: Person
    invitation_id: str
    key_id: str
    # Ids of team A's resources held by other agents (budgets, alert channels, price overrides), by name.
    elsewhere: dict[str, str] = field(default_factory=dict)


# (method, path) → the path values taken from team A, and a body that would be a valid write.
CASES: dict[tuple[str, str], tuple[Any, dict[str, Any] | None]] = {
    ("GET", "/api/v1/teams/{team_id}"): (lambda a: {"team_id": a.other_team}, None),
    ("PATCH", "/api/v1/teams/{team_id}"): (lambda a: {"team_id": a.other_team}, {"name": "pwned"}),
    ("DELETE", "/api/v1/teams/{team_id}"): (lambda a: {"team_id": a.other_team}, None),
    ("GET", "/api/v1/members/{user_id}"): (lambda a: {"user_id": a.member.user_id}, None),
    ("PATCH", "/api/v1/members/{user_id}"): (lambda a: {"user_id": a.member.user_id}, {"role": "viewer"}),
    ("DELETE", "/api/v1/members/{user_id}"): (lambda a: {"user_id": a.member.user_id}, None),
    ("GET", "/api/v1/invitations/{invitation_id}"): (lambda a: {"invitation_id": a.invitation_id}, None),
    ("POST", "/api/v1/invitations/{invitation_id}/resend"): (
        lambda a: {"invitation_id": a.invitation_id},
        {},
    ),
    ("DELETE", "/api/v1/invitations/{invitation_id}"): (lambda a: {"invitation_id": a.invitation_id}, None),
    ("DELETE", "/api/v1/apikeys/{key_id}"): (lambda a: {"key_id": a.key_id}, None),
    ("GET", "/api/v1/budgets/{budget_id}"): (lambda a: {"budget_id": a.elsewhere["budget"]}, None),
    ("PATCH", "/api/v1/budgets/{budget_id}"): (
        lambda a: {"budget_id": a.elsewhere["budget"]},
        {"amount_usd": "1"},
    ),
    ("DELETE", "/api/v1/budgets/{budget_id}"): (lambda a: {"budget_id": a.elsewhere["budget"]}, None),
    ("PATCH", "/api/v1/alert-channels/{channel_id}"): (
        lambda a: {"channel_id": a.elsewhere["alert_channel"]},
        {"enabled": False},
    ),
    ("DELETE", "/api/v1/alert-channels/{channel_id}"): (
        lambda a: {"channel_id": a.elsewhere["alert_channel"]},
        None,
    ),
    ("POST", "/api/v1/alert-channels/{channel_id}/test"): (
        lambda a: {"channel_id": a.elsewhere["alert_channel"]},
        {},
    ),
    ("DELETE", "/api/v1/price-overrides/{override_id}"): (
        lambda a: {"override_id": a.elsewhere["price_override"]},
        None,
    ),
}

# Routes whose path ids are not team data, with the reason.
EXEMPT: dict[tuple[str, str], str] = {
    (
        "GET",
        "/api/v1/mesh/canaries/{canary_id}",
    ): "canaries are the platform's mesh self-test, owned by no team",
    ("GET", "/api/docs/assets/{name}"): "files of the API docs renderer: public, no team's data",
    **dict.fromkeys(
        [
            ("GET", "/api/v1/operator/webhook-deliveries/{delivery_id}"),
            ("POST", "/api/v1/operator/webhook-deliveries/{delivery_id}/reprocess"),
            ("GET", "/api/v1/operator/subscriptions/{account_github_id}"),
        ],
        "operator routes (platform:*) are no team's: every team credential gets 403, "
        "tests/webhooks/test_operator_api.py::test_no_team_credential_reaches_operator_routes",
    ),
}

ID_ROUTES = [route for route in ROUTES if route.path_params]


def test_every_route_with_an_id_has_an_idor_case() -> None:
    """Each route of the table with a path parameter has an IDOR case or a reasoned exemption."""
    missing = [
        f"{route.method} {route.path}"
        for route in ID_ROUTES
        if (route.method, route.path) not in CASES and (route.method, route.path) not in EXEMPT
    ]
    assert missing == [], "add an IDOR case (tests/identity/test_idor.py) for: " + ", ".join(missing)
    stale = [key for key in (*CASES, *EXEMPT) if key not in {(r.method, r.path) for r in ID_ROUTES}]
    assert stale == []


@pytest.fixture
async def two_teams(
    launcher: MeshLauncher,
) -> AsyncIterator[tuple[str, asyncpg.Pool, TeamA, list[dict[str, str]]]]:
    """Team A with a resource of each kind; team B's owner as a session and as an all-permissions key."""
    # E-mail on, so that A can have an alert channel (B's calls never reach it: nothing is sent).
    launcher.overrides = deep_merge(launcher.overrides, {"email": {"enabled": True}})
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    await asyncio.to_thread(launcher.start, AgentName.MONITORING)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        base = launcher.edge_url
        _, home = await account(pool, "team-a")
        owner = await person(pool, home, "a-owner", Role.OWNER)
        member = await person(pool, home, "a-member", Role.MEMBER)
        status, other = await request(base, "POST", "/api/v1/teams", owner.headers(), {"name": "A second"})
        assert status == 201
        status, invited = await request(
            base, "POST", "/api/v1/invitations", owner.headers(), {"github_login": "a-newbie"}
        )
        assert status == 201
        async with pool.acquire() as conn:
            key, _ = await apikeys.create(
                conn, team_id=home, name="a", permissions=[Permission.MESH_READ], created_by=owner.user_id
            )
        a = TeamA(home, other["id"], owner, member, invited["invitation"]["id"], key.key_id)
        status, budget = await request(
            base, "POST", "/api/v1/budgets", owner.headers(), {"name": "A budget", "amount_usd": "12.5"}
        )
        assert status == 201, budget
        a.elsewhere["budget"] = budget["id"]
        status, channel = await request(
            base,
            "POST",
            "/api/v1/alert-channels",
            owner.headers(),
            {"name": "A alerts", "config": {"kind": "email", "recipients": ["a-ops@example.com"]}},
        )
        assert status == 201, channel
        a.elsewhere["alert_channel"] = channel["channel"]["id"]
        status, override = await request(
            base,
            "POST",
            "/api/v1/price-overrides",
            owner.headers(),
            {
                "provider": "acme",
                "model_pattern": "a-model",
                "effective_from": "2026-01-01T00:00:00Z",
                "discount_percent": "10",
            },
        )
        assert status == 201, override
        a.elsewhere["price_override"] = override["id"]

        _, b_home = await account(pool, "team-b")
        b_owner = await person(pool, b_home, "b-owner", Role.OWNER)
        async with pool.acquire() as conn:
            _, b_key = await apikeys.create(
                conn,
                team_id=b_home,
                name="b",
                permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
                created_by=b_owner.user_id,
            )
        callers = [b_owner.headers(), {"Authorization": f"Bearer {b_key}"}]
        yield base, pool, a, callers
    finally:
        await pool.close()


async def snapshot(pool: asyncpg.Pool, a: TeamA) -> str:
    """Everything of team A's account a write could change."""
    teams = [a.home, a.other_team]
    rows = {
        "teams": await pool.fetch(
            "SELECT id::text, name, slug, deleted_at::text FROM super_agent.teams WHERE id = ANY($1::uuid[]) "
            "ORDER BY id",
            teams,
        ),
        "members": await pool.fetch(
            "SELECT team_id::text, user_id::text, role FROM super_agent.team_members "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1, 2",
            teams,
        ),
        "invitations": await pool.fetch(
            "SELECT id::text, encode(secret_hash, 'hex'), send_count, revoked_at::text, accepted_at::text "
            "FROM super_agent.invitations WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "keys": await pool.fetch(
            "SELECT key_id, revoked_at::text FROM super_agent.api_keys "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "audit": await pool.fetch(
            "SELECT team_id::text, seq FROM super_agent.audit_heads "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "purges": await pool.fetch("SELECT request_id FROM super_agent.purge_requests ORDER BY 1"),
        "budgets": await pool.fetch(
            "SELECT id::text, name, amount_usd::text, updated_at::text FROM monitoring.budgets "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "alert_channels": await pool.fetch(
            "SELECT id::text, name, enabled, updated_at::text FROM monitoring.alert_channels "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "price_overrides": await pool.fetch(
            "SELECT id::text, deleted_at::text FROM monitoring.price_overrides "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
    }
    return json.dumps({name: [list(r.values()) for r in found] for name, found in rows.items()})


async def test_team_b_never_reaches_team_a_by_id(
    two_teams: tuple[str, asyncpg.Pool, TeamA, list[dict[str, str]]],
) -> None:
    """Every id route, as B's owner (session and key) with A's ids: 404, typed, no A data, no change."""
    base, pool, a, callers = two_teams
    before = await snapshot(pool, a)
    secrets_of_a = {
        a.owner.login,
        a.member.login,
        "a-newbie",
        "A second",
        "A budget",
        "A alerts",
        "a-ops@example.com",
    }
    failures = []
    for route in ID_ROUTES:
        key = (route.method, route.path)
        if key in EXEMPT:
            continue
        values, body = CASES[key]
        path = route.path.format(**values(a))
        for headers in callers:
            status, answer = await request(base, route.method, path, headers, body)
            text = json.dumps(answer)
            leaked = sorted(s for s in secrets_of_a if s in text)
            typed = isinstance(answer, dict) and answer.get("error", {}).get("code") == "not_found"
            if status != 404 or not typed or leaked:
                failures.append(
                    f"{route.method} {path} ({'key' if 'Authorization' in headers else 'session'}): "
                    f"{status} {text[:200]} leaked={leaked}"
                )
    assert failures == []
    assert await snapshot(pool, a) == before


async def test_team_b_cannot_select_team_a(
    two_teams: tuple[str, asyncpg.Pool, TeamA, list[dict[str, str]]],
) -> None:
    """Naming team A in X-MNO-Team as B's owner is 404 on every team-scoped list."""
    base, _, a, callers = two_teams
    session = dict(callers[0], **{"X-MNO-Team": a.home})
    for path in (
        "/api/v1/teams",
        "/api/v1/members",
        "/api/v1/invitations",
        "/api/v1/audit",
        "/api/v1/apikeys",
        "/api/v1/budgets",
        "/api/v1/alert-channels",
        "/api/v1/alerts",
        "/api/v1/price-overrides",
    ):
        status, answer = await request(base, "GET", path, session)
        assert status == 404, (path, answer)
        assert a.owner.login not in json.dumps(answer)
