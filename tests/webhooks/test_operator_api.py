"""The operator's views through the real edge: the webhook ledger (filtered, paged), reprocessing a
failed delivery, subscriptions with history, installations; `mno operator`; and no team's reach."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agents.super_agent.routes.operator import OPERATOR_ROUTES
from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures.mesh import REPO, MeshLauncher
from tests.fixtures.stack import free_port
from tests.identity.test_teams_support import account, person, request
from tests.marketplace.factories import BASIC, ORG, payload, purchase
from tests.webhooks.test_webhooks_e2e import (
    APP_SECRET,
    MARKETPLACE_SECRET,
    deliver,
    delivery_row,
    installation_payload,
)

OPERATOR_TOKEN = "operator-token-for-tests-0123456789"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
DELIVERIES = "/api/v1/operator/webhook-deliveries"


@pytest.fixture
async def edge(launcher: MeshLauncher) -> AsyncIterator[tuple[MeshLauncher, asyncpg.Pool]]:
    launcher.overrides = {
        "auth": {"bootstrap_token": OPERATOR_TOKEN},
        "github": {"webhook_secrets": [APP_SECRET], "marketplace_webhook_secrets": [MARKETPLACE_SECRET]},
        # One attempt per queued message: a failed delivery stays failed until reprocessed.
        "jetstream": {"backoff_seconds": [], "max_deliver": 1},
    }
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=10)
    try:
        yield launcher, pool
    finally:
        await pool.close()


async def get(launcher: MeshLauncher, path: str, **params: Any) -> Any:
    status, body = await request(
        launcher.edge_url, "GET", path, OPERATOR, params={k: str(v) for k, v in params.items()}
    )
    assert status == 200, body
    return body


async def test_operator_lists_deliveries_by_event_and_status_in_pages(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """The ledger is newest first, filtered by event and status, paged without gaps or repeats;
    one delivery shows its payload; bad filters are 422 and an unknown id 404."""
    launcher, pool = edge
    guids = []
    for installation_id in (61, 62, 63):
        guid = str(uuid.uuid4())
        await deliver(launcher, installation_payload(installation_id=installation_id), guid=guid)
        guids.append(guid)
    ignored = str(uuid.uuid4())
    await deliver(launcher, {"action": "opened"}, event="issues", guid=ignored)
    async with pool.acquire() as conn:
        for guid in (*guids, ignored):
            await delivery_row(conn, guid)

    first = await get(launcher, DELIVERIES, event="installation", limit=2)
    assert [d["guid"] for d in first["deliveries"]] == [guids[2], guids[1]]
    second = await get(launcher, DELIVERIES, event="installation", limit=2, before=first["next_before"])
    assert [d["guid"] for d in second["deliveries"]] == [guids[0]]
    assert second["next_before"] is None
    only_ignored = await get(launcher, DELIVERIES, status="ignored")
    assert [(d["guid"], d["event"]) for d in only_ignored["deliveries"]] == [(ignored, "issues")]

    one = await get(launcher, f"{DELIVERIES}/{first['deliveries'][0]['id']}")
    assert one["payload"]["installation"]["id"] == 63
    assert one["status"] == "processed"
    for params in ({"status": "nope"}, {"limit": "0"}, {"before": "x"}, {"colour": "red"}):
        status, body = await request(launcher.edge_url, "GET", DELIVERIES, OPERATOR, params=params)
        assert (status, body["error"]["code"]) == (422, "validation_failed"), params
    status, body = await request(launcher.edge_url, "GET", f"{DELIVERIES}/999999", OPERATOR)
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_operator_reprocesses_a_failed_delivery(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """A delivery that failed is requeued by the operator (202, next attempt) and then applied; a
    delivery that did not fail is 409 and unchanged."""
    launcher, pool = edge
    guid = str(uuid.uuid4())
    await pool.execute(
        "ALTER TABLE super_agent.installation_repositories RENAME TO installation_repositories_x"
    )
    try:
        await deliver(launcher, installation_payload(installation_id=64), guid=guid)
        async with pool.acquire() as conn:
            failed = await delivery_row(conn, guid)
    finally:
        await pool.execute(
            "ALTER TABLE super_agent.installation_repositories_x RENAME TO installation_repositories"
        )
    assert failed["status"] == "failed"
    listed = await get(launcher, DELIVERIES, status="failed")
    assert [d["id"] for d in listed["deliveries"]] == [failed["id"]]

    status, body = await request(
        launcher.edge_url, "POST", f"{DELIVERIES}/{failed['id']}/reprocess", OPERATOR
    )
    assert (status, body["status"], body["attempt"]) == (202, "requeued", 2), body
    async with pool.acquire() as conn:
        deadline = asyncio.get_running_loop().time() + 15
        while (row := await delivery_row(conn, guid))["status"] != "processed":
            assert asyncio.get_running_loop().time() < deadline, row["status"]
            await asyncio.sleep(0.05)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM super_agent.installation_repositories WHERE installation_id = 64"
        )
        == 2
    )
    status, body = await request(
        launcher.edge_url, "POST", f"{DELIVERIES}/{failed['id']}/reprocess", OPERATOR
    )
    assert (status, body["error"]["code"]) == (409, "conflict")
    status, body = await request(launcher.edge_url, "POST", f"{DELIVERIES}/999999/reprocess", OPERATOR)
    assert status == 404


async def test_operator_reads_subscriptions_with_history_and_installations(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """Subscriptions (filtered by status) and one with its history newest first; installations by
    status with their repository counts."""
    launcher, pool = edge
    now = datetime.now(UTC)
    bought = payload("purchased", now - timedelta(minutes=2), purchase(BASIC, unit_count=1))
    changed = payload(
        "changed", now - timedelta(minutes=1), purchase(BASIC, unit_count=3), previous=purchase(BASIC)
    )
    for body in (bought, changed):
        guid = str(uuid.uuid4())
        await deliver(
            launcher,
            body,
            event="marketplace_purchase",
            guid=guid,
            secret=MARKETPLACE_SECRET,
            path="/webhooks/github/marketplace",
        )
        async with pool.acquire() as conn:
            await delivery_row(conn, guid)
    for installation_id, action in ((71, "created"), (72, "created"), (72, "suspend")):
        guid = str(uuid.uuid4())
        await deliver(launcher, installation_payload(action, installation_id=installation_id), guid=guid)
        async with pool.acquire() as conn:
            await delivery_row(conn, guid)

    listed = await get(launcher, "/api/v1/operator/subscriptions")
    assert [(s["account_github_id"], s["account_login"]) for s in listed["subscriptions"]] == [
        (ORG["id"], ORG["login"])
    ]
    status = listed["subscriptions"][0]["status"]
    assert (await get(launcher, "/api/v1/operator/subscriptions", status=status))["subscriptions"]
    assert (await get(launcher, "/api/v1/operator/subscriptions", status="nothing"))["subscriptions"] == []
    one = await get(launcher, f"/api/v1/operator/subscriptions/{ORG['id']}")
    assert [h["action"] for h in one["history"]][:2] == ["changed", "purchased"]
    assert one["state"]
    status_code, _ = await request(launcher.edge_url, "GET", "/api/v1/operator/subscriptions/5", OPERATOR)
    assert status_code == 404

    installations = await get(launcher, "/api/v1/operator/installations")
    assert [(i["github_id"], i["status"], i["repositories"]) for i in installations["installations"]] == [
        (72, "suspended", 2),
        (71, "active", 2),
    ]
    suspended = await get(launcher, "/api/v1/operator/installations", status="suspended")
    assert [i["github_id"] for i in suspended["installations"]] == [72]


async def test_no_team_credential_reaches_operator_routes(edge: tuple[MeshLauncher, asyncpg.Pool]) -> None:
    """Every operator route answers 403 to a team owner's session and to a key with all of an
    owner's permissions (operator routes read across accounts; no team role holds platform:*)."""
    launcher, pool = edge
    _, team_id = await account(pool, "someone-else")
    owner = await person(pool, team_id, "the-owner", Role.OWNER)
    async with pool.acquire() as conn:
        _, key = await apikeys.create(
            conn,
            team_id=team_id,
            name="all",
            permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
            created_by=owner.user_id,
        )
    failures = []
    for route in OPERATOR_ROUTES:
        assert route.permission in (Permission.PLATFORM_READ, Permission.PLATFORM_OPERATE)
        path = route.path.replace("{delivery_id}", "1").replace("{account_github_id}", str(ORG["id"]))
        for headers in (owner.headers(), {"Authorization": f"Bearer {key}"}):
            status, body = await request(launcher.edge_url, route.method, path, headers)
            if status != 403 or body["error"]["code"] != "forbidden":
                failures.append(f"{route.method} {path}: {status}")
    assert failures == []


def mno_operator(launcher: MeshLauncher, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    env = {**clean, "MNO_EDGE_URL": launcher.edge_url, "MNO_OPERATOR_TOKEN": OPERATOR_TOKEN, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "mno.cli", "operator", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_mno_operator_commands_show_the_ledger_and_reprocess(
    edge: tuple[MeshLauncher, asyncpg.Pool],
) -> None:
    """`mno operator deliveries/delivery/installations/subscriptions` print what the API holds;
    `reprocess` of a delivery that did not fail exits 1 with the API's one-line reason."""
    launcher, pool = edge
    guid = str(uuid.uuid4())
    await deliver(launcher, installation_payload(installation_id=81), guid=guid)
    async with pool.acquire() as conn:
        row = await delivery_row(conn, guid)

    listed = await asyncio.to_thread(
        mno_operator, launcher, "deliveries", "--event", "installation", "--json"
    )
    assert listed.returncode == 0, listed.stderr
    assert [d["guid"] for d in json.loads(listed.stdout)["deliveries"]] == [guid]
    table = await asyncio.to_thread(mno_operator, launcher, "deliveries", "--status", "processed")
    assert table.returncode == 0, table.stderr
    assert "installation" in table.stdout
    one = await asyncio.to_thread(mno_operator, launcher, "delivery", str(row["id"]))
    assert json.loads(one.stdout)["payload"]["installation"]["id"] == 81
    installs = await asyncio.to_thread(mno_operator, launcher, "installations", "--json")
    assert [i["github_id"] for i in json.loads(installs.stdout)["installations"]] == [81]
    subs = await asyncio.to_thread(mno_operator, launcher, "subscriptions", "--json")
    assert json.loads(subs.stdout)["subscriptions"] == []
    refused = await asyncio.to_thread(mno_operator, launcher, "reprocess", str(row["id"]))
    assert refused.returncode == 1
    assert "409" in refused.stderr
    assert "only failed deliveries" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_mno_operator_fails_fast_without_an_edge_or_a_token(tmp_path: Path) -> None:
    """An unreachable edge is one line and exit 3; no operator token is one line and exit 2."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    command = [sys.executable, "-m", "mno.cli", "operator", "deliveries"]
    unreachable = subprocess.run(
        [*command, "--url", f"http://127.0.0.1:{free_port()}", "--token", "x"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 3, unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot reach the edge" in unreachable.stderr
    tokenless = subprocess.run(
        [*command, "--url", "http://127.0.0.1:1"],
        cwd=REPO,
        env={**clean, "MNO_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tokenless.returncode == 2, tokenless.stderr
    assert "no operator token" in tokenless.stderr
