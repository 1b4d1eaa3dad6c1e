"""IDOR: every route of the table that takes an id in its path, called by team B with team A's ids,
answers 404 with a typed error, shows none of A's data and changes nothing of A's.

The suite walks the route table: a route with a path parameter and no case here (nor a reasoned
exemption) fails `test_every_route_with_an_id_has_an_idor_case`, so a new route cannot skip it.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest

from agents.super_agent.routes import ROUTES
from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures import github_link
from tests.fixtures.mesh import CLOSED_UPSTREAM, TOKEN, MeshLauncher, deep_merge
from tests.identity.test_teams_support import Person, account, person, request
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import minimal_wheel, upload_bytes

A_INSTALLATION = 930_000  # the GitHub App installation of team A's account
A_PACKAGE = "a-secret-lib"  # a package in team A's registry
A_SCOPED = f"@team-a/{A_PACKAGE}"  # a scoped npm package of team A's (`{scope}/{name}` in the npm routes)
A_PROMPT = "a-secret-prompt"  # a prompt of team A's


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


# A's scoped npm package through the REST API and the dashboard, its name as one encoded segment. Not
# yank: npm has none, refused (422) for any npm name, A's or none, before a package is looked up.
_SCOPED_API = "/api/v1/registry/packages/npm/" + A_SCOPED.replace("/", "%2F")
SCOPED_CASES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", _SCOPED_API, None),
    ("DELETE", _SCOPED_API, None),
    ("GET", _SCOPED_API + "/versions/1.0.0", None),
    ("DELETE", _SCOPED_API + "/versions/1.0.0", None),
    ("POST", _SCOPED_API + "/versions/1.0.0/unyank", {}),
    ("GET", "/dashboard/packages/npm/" + A_SCOPED.replace("/", "%2F"), None),
]

# (method, path) → the path values taken from team A, and a body that would be a valid write (or a
# function of team A making it, for a body naming another of A's resources).
CASES: dict[tuple[str, str], tuple[Any, Any]] = {
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
    ("GET", "/api/v1/github/installations/{installation_id}/repositories"): (
        lambda a: {"installation_id": a.elsewhere["installation"]},
        None,
    ),
    # The registry: team A's index by its team id, A's package, version and file by name and digest.
    ("GET", "/registry/{team}/pypi/simple/"): (lambda a: {"team": a.home}, None),
    ("GET", "/registry/{team}/pypi/simple/{project}/"): (
        lambda a: {"team": a.home, "project": A_PACKAGE},
        None,
    ),
    ("GET", "/registry/{team}/pypi/files/{sha256}/{filename}"): (
        lambda a: {"team": a.home, "sha256": a.elsewhere["wheel_sha256"], "filename": a.elsewhere["wheel"]},
        None,
    ),
    ("POST", "/registry/{team}/pypi/legacy/"): (lambda a: {"team": a.home}, None),
    # npm: A's registry by its team id and A's package (published there too) by name.
    **{
        (method, "/registry/{team}/npm" + tail): (
            lambda a: {
                "team": a.home,
                "name": A_PACKAGE,
                "scope": "@team-a",
                "tag": "latest",
                "filename": f"{A_PACKAGE}-1.0.0.tgz",
                "rev": "1-0",
            },
            body,
        )
        for method, tail, body in (
            ("GET", "/-/ping", None),
            ("GET", "/-/whoami", None),
            ("GET", "/-/v1/search", None),
            ("GET", "/-/package/{name}/dist-tags", None),
            ("PUT", "/-/package/{name}/dist-tags/{tag}", None),
            ("DELETE", "/-/package/{name}/dist-tags/{tag}", None),
            ("GET", "/{name}", None),
            ("PUT", "/{name}", {"name": A_PACKAGE, "versions": {"1.0.0": {"deprecated": "pwned"}}}),
            ("GET", "/{scope}/{name}", None),
            ("GET", "/{name}/-/{filename}", None),
            ("GET", "/{scope}/{name}/-/{filename}", None),
            ("PUT", "/{name}/-rev/{rev}", {"name": A_PACKAGE, "versions": {}}),
            ("DELETE", "/{name}/-rev/{rev}", None),
            ("DELETE", "/{name}/-/{filename}/-rev/{rev}", None),
        )
    },
    ("GET", "/api/v1/registry/packages/{ecosystem}/{name}"): (
        lambda a: {"ecosystem": "pypi", "name": A_PACKAGE},
        None,
    ),
    # The dashboard's package page: an HTML 404 page naming the API's code.
    ("GET", "/dashboard/packages/{ecosystem}/{name}"): (
        lambda a: {"ecosystem": "pypi", "name": A_PACKAGE},
        None,
    ),
    ("DELETE", "/api/v1/registry/packages/{ecosystem}/{name}"): (
        lambda a: {"ecosystem": "pypi", "name": A_PACKAGE},
        None,
    ),
    **{
        (method, "/api/v1/registry/packages/{ecosystem}/{name}/versions/{version}" + tail): (
            lambda a: {"ecosystem": "pypi", "name": A_PACKAGE, "version": "1.0"},
            body,
        )
        for method, tail, body in (
            ("GET", "", None),
            ("DELETE", "", None),
            ("POST", "/yank", {"reason": "pwned"}),
            ("POST", "/unyank", {}),
        )
    },
    # The supply chain: A's SBOM, finding and attestation by id.
    ("GET", "/api/v1/sboms/{sbom_id}"): (lambda a: {"sbom_id": a.elsewhere["sbom"]}, None),
    ("GET", "/api/v1/sboms/{sbom_id}/document"): (lambda a: {"sbom_id": a.elsewhere["sbom"]}, None),
    ("GET", "/api/v1/sboms/{sbom_id}/vex"): (lambda a: {"sbom_id": a.elsewhere["sbom"]}, None),
    ("GET", "/api/v1/vulnerabilities/{finding_id}"): (lambda a: {"finding_id": a.elsewhere["finding"]}, None),
    ("POST", "/api/v1/vulnerabilities/{finding_id}/triage"): (
        lambda a: {"finding_id": a.elsewhere["finding"]},
        {"status": "fixed"},
    ),
    # A's product decision on A's finding, named by A's SBOM: there is something to withdraw.
    ("POST", "/api/v1/vulnerabilities/{finding_id}/triage/withdraw"): (
        lambda a: {"finding_id": a.elsewhere["finding"]},
        lambda a: {"product": {"sbom_id": a.elsewhere["sbom"]}},
    ),
    ("GET", "/api/v1/attestations/{attestation_id}"): (
        lambda a: {"attestation_id": a.elsewhere["attestation"]},
        None,
    ),
    ("POST", "/api/v1/attestations/{attestation_id}/verify"): (
        lambda a: {"attestation_id": a.elsewhere["attestation"]},
        {},
    ),
    ("DELETE", "/api/v1/supply-chain/policy/overrides/{override_id}"): (
        lambda a: {"override_id": a.elsewhere["override"]},
        None,
    ),
    # Prompts: A's prompt by name (B's team has none of that name), its label and version.
    **{
        (method, "/api/v1/prompts/{name}" + tail): (
            lambda a: {"name": A_PROMPT, "label": "production", "version": "1"},
            body,
        )
        for method, tail, body in (
            ("GET", "", None),
            ("GET", "/versions", None),
            ("POST", "/render", {}),
            ("GET", "/diff", None),
            ("PUT", "/labels/{label}", {"version": 1}),
            ("POST", "/versions/{version}/approvals", {}),
            ("GET", "/labels/{label}/impact", None),
            ("POST", "/pull-request", {}),
        )
    },
    # The dashboard's prompt and experiment pages: an HTML 404 page naming the API's code.
    ("GET", "/dashboard/prompts/{name}"): (lambda a: {"name": A_PROMPT}, None),
    ("GET", "/dashboard/prompts/{name}/edit"): (lambda a: {"name": A_PROMPT}, None),
    ("GET", "/dashboard/experiments/{experiment_id}"): (
        lambda a: {"experiment_id": a.elsewhere["experiment"]},
        None,
    ),
    ("POST", "/dashboard/experiments/{experiment_id}/promote"): (
        lambda a: {"experiment_id": a.elsewhere["experiment"]},
        {"label": "production"},
    ),
    # Evaluations: A's prompt's test set and evaluation runs, and A's run by id.
    **{
        (method, "/api/v1/prompts/{name}" + tail): (
            lambda a: {"name": A_PROMPT, "run_id": a.elsewhere["evaluation_run"]},
            body,
        )
        for method, tail, body in (
            (
                "PUT",
                "/test-set",
                {"cases": [{"id": "b", "assertions": [{"type": "contains", "value": "b"}]}]},
            ),
            ("GET", "/test-set", None),
            ("POST", "/evaluations", {"version": 1, "model": "gpt-4o-mini"}),
            ("GET", "/evaluations", None),
            ("GET", "/evaluations/{run_id}", None),
        )
    },
    # Experiments: A's running experiment over two versions of A's prompt.
    **{
        (method, "/api/v1/experiments/{experiment_id}" + tail): (
            lambda a: {"experiment_id": a.elsewhere["experiment"]},
            body,
        )
        for method, tail, body in (
            ("GET", "", None),
            ("POST", "/start", {}),
            ("POST", "/stop", {}),
            ("POST", "/exposures", {"unit_id": "u-1", "variant": "one"}),
            ("POST", "/exposures/batch", {"exposures": [{"unit_id": "u-1", "variant": "one"}]}),
            ("POST", "/scores", {"request_id": "r-1", "unit_id": "u-1", "name": "q", "value": 1}),
            ("GET", "/results", None),
            ("POST", "/promote", {"label": "production"}),
        )
    },
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
    # E-mail on, so that A can have an alert channel (B's calls never reach it: nothing is sent);
    # webhook secrets, so that A's account gets a GitHub App installation as GitHub would send it.
    launcher.overrides = deep_merge(
        launcher.overrides, {"email": {"enabled": True}, "github": github_link.WEBHOOK_SECRETS}
    )
    # Evaluation calls meet a closed port: A's run finishes (its case failed), nothing is called.
    launcher.overrides = deep_merge(launcher.overrides, {"evaluations": {"base_url": CLOSED_UPSTREAM}})
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    await asyncio.to_thread(launcher.start, AgentName.MONITORING)
    await asyncio.to_thread(launcher.start, AgentName.ARTIFACT_MANAGER)
    await asyncio.to_thread(launcher.start, AgentName.SUPPLY_CHAIN)
    await asyncio.to_thread(launcher.start, AgentName.LEARNING)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        base = launcher.edge_url
        # The local plan: it includes supply_chain, so B meets 404s there, not the plan's 403.
        a_account, home = await account(pool, "team-a", plan="local")
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
        a_github = await pool.fetchval(
            "SELECT github_id FROM super_agent.accounts WHERE id = $1::uuid", a_account
        )
        org = github_link.org(a_github, "team-a")
        installed = github_link.installation_created(
            A_INSTALLATION, org, github_link.repos(org, "a-private-repo", first_id=930_001)
        )
        await github_link.settled(pool, [await github_link.send(base, installed, "installation")])
        a.elsewhere["installation"] = str(A_INSTALLATION)
        async with pool.acquire() as conn:
            _, publisher = await apikeys.create(
                conn,
                team_id=home,
                name="a-publisher",
                permissions=[Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH],
                created_by=owner.user_id,
            )
        wheel, content = minimal_wheel(A_PACKAGE, "1.0")
        status, published = await upload_bytes(base, home, publisher, A_PACKAGE, "1.0", wheel, content)
        assert status == 200, published
        a.elsewhere["wheel"] = wheel
        a.elsewhere["wheel_sha256"] = hashlib.sha256(content).hexdigest()
        tgz = package_tarball(A_PACKAGE, "1.0.0")
        status, published = await put_document(
            base, home, publisher, A_PACKAGE, publish_document(A_PACKAGE, "1.0.0", tgz)
        )
        assert status == 201, published
        tgz = package_tarball(A_SCOPED, "1.0.0")
        status, published = await put_document(
            base, home, publisher, A_SCOPED, publish_document(A_SCOPED, "1.0.0", tgz)
        )
        assert status == 201, published

        await _supply_chain_of_a(base, owner, a)
        await _artifact_sboms_made(pool, home, expected=3)
        status, saved = await request(
            base,
            "POST",
            "/api/v1/prompts",
            owner.headers(),
            {"name": A_PROMPT, "type": "text", "template": "A's prompt words"},
        )
        assert status == 200, saved
        status, moved = await request(
            base, "PUT", f"/api/v1/prompts/{A_PROMPT}/labels/production", owner.headers(), {"version": 1}
        )
        assert status == 200, moved
        await _evaluation_of_a(base, owner, a)
        await _experiment_of_a(base, owner, a)

        _, b_home = await account(pool, "team-b", plan="local")
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


async def _artifact_sboms_made(pool: asyncpg.Pool, team_id: str, *, expected: int) -> None:
    """Wait until the SupplyChainAgent has made the SBOMs of A's published packages: it does so on their
    `artifact_published` events, after the upload answered, and a snapshot taken before it would see
    the SBOM appear as if B's calls had made it."""
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        made = await pool.fetchval(
            "SELECT count(*) FROM supply_chain.sboms WHERE team_id = $1::uuid AND source = 'artifact'",
            team_id,
        )
        if made >= expected:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{made}/{expected} artifact SBOMs in 120 s"
        await asyncio.sleep(0.2)


async def _supply_chain_of_a(base: str, owner: Person, a: TeamA) -> None:
    """An advisory naming A's private package, and A's scanned SBOM with its finding and attestations."""
    record = {
        "id": "MNO-IDOR-1",
        "modified": "2030-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": A_PACKAGE},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
            }
        ],
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = json.dumps(record).encode()
        member = tarfile.TarInfo("MNO-IDOR-1.json")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    async with aiohttp.ClientSession() as http:
        operator = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(
            f"{base}/api/v1/operator/advisories/import", data=archive.getvalue(), headers=operator
        ) as response:
            assert response.status == 200, await response.text()
        async with http.post(
            f"{base}/api/v1/sboms",
            params={"filename": "requirements.txt"},
            data=f"{A_PACKAGE}==1.0\n".encode(),
            headers=owner.headers(),
        ) as response:
            scanned = await response.json()
            assert response.status == 201, scanned
    a.elsewhere["sbom"] = scanned["sbom"]["id"]
    a.elsewhere["finding"] = scanned["findings"][0]["id"]
    a.elsewhere["attestation"] = scanned["sbom"]["attestations"][0]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/api/v1/vulnerabilities/{a.elsewhere['finding']}/triage",
            json={"status": "fixed", "product": {"sbom_id": a.elsewhere["sbom"]}},
            headers=owner.headers(),
        ) as response,
    ):
        assert response.status == 200, await response.text()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/api/v1/supply-chain/policy/overrides",
            json={"ecosystem": "pypi", "name": A_PACKAGE, "version": "1.0", "reason": "accepted risk"},
            headers=owner.headers(),
        ) as response,
    ):
        override = await response.json()
        assert response.status == 201, override
    a.elsewhere["override"] = override["id"]


async def _experiment_of_a(base: str, owner: Person, a: TeamA) -> None:
    """A running experiment over versions 1 and 2 of A's prompt."""
    status, saved = await request(
        base,
        "POST",
        "/api/v1/prompts",
        owner.headers(),
        {"name": A_PROMPT, "type": "text", "template": "A's prompt words, second take"},
    )
    assert status == 200, saved
    variants = [{"key": "one", "version": 1, "weight": 0.5}, {"key": "two", "version": 2, "weight": 0.5}]
    status, created = await request(
        base,
        "POST",
        "/api/v1/experiments",
        owner.headers(),
        {"prompt": A_PROMPT, "name": "A's experiment", "variants": variants},
    )
    assert status == 200, created
    status, started = await request(
        base, "POST", f"/api/v1/experiments/{created['id']}/start", owner.headers(), {}
    )
    assert status == 200, started
    a.elsewhere["experiment"] = created["id"]


async def _evaluation_of_a(base: str, owner: Person, a: TeamA) -> None:
    """A test set of A's prompt and a finished evaluation run of its version 1 (finished before the
    snapshot, so that nothing of A's changes while B calls)."""
    test_set = {"cases": [{"id": "a", "assertions": [{"type": "contains", "value": "A's answer"}]}]}
    status, put = await request(
        base, "PUT", f"/api/v1/prompts/{A_PROMPT}/test-set", owner.headers(), test_set
    )
    assert status == 200, put
    path = f"/api/v1/prompts/{A_PROMPT}/evaluations"
    status, run = await request(base, "POST", path, owner.headers(), {"version": 1, "model": "gpt-4o-mini"})
    assert status == 202, run
    a.elsewhere["evaluation_run"] = run["id"]
    deadline = asyncio.get_running_loop().time() + 60
    while run["status"] == "running":
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.2)
        status, run = await request(base, "GET", f"{path}/{run['id']}", owner.headers())
        assert status == 200, run


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
        "packages": await pool.fetch(
            "SELECT p.name, p.latest_version, v.version, v.yanked, f.filename, f.downloads "
            "FROM artifact_manager.packages p JOIN artifact_manager.versions v ON v.package_id = p.id "
            "JOIN artifact_manager.files f ON f.version_id = v.id WHERE p.team_id = ANY($1::uuid[]) "
            "ORDER BY 1, 3, 5",
            teams,
        ),
        "supply_chain": await pool.fetch(
            "SELECT s.id::text, t.status, t.updated_at::text FROM supply_chain.sboms s "
            "LEFT JOIN supply_chain.triage t ON t.team_id = s.team_id WHERE s.team_id = ANY($1::uuid[]) "
            "ORDER BY 1, 2",
            teams,
        ),
        "product_triage": await pool.fetch(
            "SELECT product, status, updated_at::text FROM supply_chain.product_triage "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "download_overrides": await pool.fetch(
            "SELECT id::text, name, version FROM supply_chain.download_overrides "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "prompts": await pool.fetch(
            "SELECT p.name, v.version, l.label, l.version FROM learning.prompts p "
            "JOIN learning.prompt_versions v ON v.prompt_id = p.id "
            "LEFT JOIN learning.prompt_labels l ON l.prompt_id = p.id "
            "WHERE p.team_id = ANY($1::uuid[]) ORDER BY 1, 2, 3",
            teams,
        ),
        "experiments": await pool.fetch(
            "SELECT e.id::text, e.status, v.key, v.stopped_at::text, "
            "(SELECT count(*) FROM learning.experiment_exposures x WHERE x.experiment_id = e.id), "
            "(SELECT count(*) FROM learning.experiment_scores x WHERE x.experiment_id = e.id) "
            "FROM learning.experiments e JOIN learning.experiment_variants v ON v.experiment_id = e.id "
            "WHERE e.team_id = ANY($1::uuid[]) ORDER BY 1, 3",
            teams,
        ),
        "prompt_evaluations": await pool.fetch(
            "SELECT e.id::text, e.status, e.passed, t.revision FROM learning.prompt_evaluations e "
            "LEFT JOIN learning.prompt_test_sets t ON t.prompt_id = e.prompt_id "
            "WHERE e.team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
        "price_overrides": await pool.fetch(
            "SELECT id::text, deleted_at::text FROM monitoring.price_overrides "
            "WHERE team_id = ANY($1::uuid[]) ORDER BY 1",
            teams,
        ),
    }
    return json.dumps({name: [list(r.values()) for r in found] for name, found in rows.items()})


def _body(body: Any, a: TeamA) -> dict[str, Any] | None:
    return body(a) if callable(body) else body


async def test_team_b_never_reaches_team_a_by_id(
    two_teams: tuple[str, asyncpg.Pool, TeamA, list[dict[str, str]]],
) -> None:
    """Every id route (and A's scoped npm package's), as B's owner (session and key) with A's ids: 404,
    typed, no A data, no change."""
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
        "a-private-repo",
        A_PACKAGE,
        "A's prompt words",
    }
    cases = [
        (route.method, route.path.format(**CASES[key][0](a)), _body(CASES[key][1], a))
        for route in ID_ROUTES
        if (key := (route.method, route.path)) not in EXEMPT
    ]
    failures = []
    for method, path, body in [*cases, *SCOPED_CASES]:
        for headers in callers:
            status, answer = await request(base, method, path, headers, body)
            text = json.dumps(answer)
            leaked = sorted(s for s in secrets_of_a if s in text)
            # Package clients' routes answer in their clients' format: text naming the code; dashboard
            # pages a page naming it (`data-error-code`).
            error = answer.get("error") if isinstance(answer, dict) else None
            typed = (
                (isinstance(error, dict) and error.get("code") == "not_found")
                # npm's JSON: the error's text, led by the code.
                or (isinstance(error, str) and error.startswith("not_found:"))
            ) or (
                isinstance(answer, str)
                and (answer.startswith("not_found:") or 'data-error-code="not_found"' in answer)
            )
            if status != 404 or not typed or leaked:
                failures.append(
                    f"{method} {path} ({'key' if 'Authorization' in headers else 'session'}): "
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
        "/api/v1/github/installations",
        "/api/v1/github/deliveries",
    ):
        status, answer = await request(base, "GET", path, session)
        assert status == 404, (path, answer)
        assert a.owner.login not in json.dumps(answer)
