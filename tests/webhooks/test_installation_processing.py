"""Applying `installation` and `installation_repositories` deliveries: an installation's status moves
only on the events that change it, and events about installations never seen make nothing up."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from services.identity.installations import (
    installation_status_after,
    on_installation,
    on_installation_repositories,
)
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome

INSTALLATION = 4242
ACCOUNT = {"login": "octo-org", "id": 9001, "type": "Organization"}


def body(action: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "installation": {
            "id": INSTALLATION,
            "account": ACCOUNT,
            "repository_selection": "selected",
            "target_type": "Organization",
            "permissions": {"metadata": "read"},
            "events": ["push"],
        },
        "sender": {"login": "octocat", "id": 1, "type": "User"},
        **extra,
    }


def stored(event: str, payload: dict[str, Any]) -> StoredDelivery:
    return StoredDelivery(
        id=1,
        endpoint="app",
        hook_id="123",
        guid=str(uuid.uuid4()),
        event=event,
        action=payload["action"],
        payload=payload,
        status="received",
        attempt=1,
    )


async def installation(pool: asyncpg.Pool, action: str, **extra: Any) -> Outcome:
    async with pool.acquire() as conn, conn.transaction():
        return await on_installation(conn, stored("installation", body(action, **extra)))


async def repositories(pool: asyncpg.Pool, action: str) -> Outcome:
    repo = {"id": 3, "full_name": "octo-org/c", "private": False}
    changed = {"repositories_added": [repo]} if action == "added" else {"repositories_removed": [repo]}
    async with pool.acquire() as conn, conn.transaction():
        return await on_installation_repositories(
            conn, stored("installation_repositories", body(action, **changed))
        )


async def status(pool: asyncpg.Pool) -> str | None:
    value: str | None = await pool.fetchval(
        "SELECT status FROM super_agent.installations WHERE github_id = $1", INSTALLATION
    )
    return value


@pytest.mark.parametrize(
    ("current", "action", "after"),
    [
        (None, "created", "active"),
        (None, "deleted", None),
        (None, "suspend", "suspended"),
        ("active", "suspend", "suspended"),
        ("suspended", "unsuspend", "active"),
        ("suspended", "created", "suspended"),
        ("suspended", "new_permissions_accepted", "suspended"),
        ("suspended", "added", "suspended"),
        ("deleted", "created", "deleted"),
        ("deleted", "unsuspend", "deleted"),
        ("deleted", "new_permissions_accepted", "deleted"),
        ("deleted", "added", "deleted"),
        ("active", "deleted", "deleted"),
    ],
)
def test_only_suspend_unsuspend_and_deleted_move_a_status(
    current: str | None, action: str, after: str | None
) -> None:
    """The status rule: suspend and unsuspend toggle, deleted is final, nothing else moves a status."""
    assert installation_status_after(current, action) == after  # type: ignore[arg-type]


@pytest.fixture
def pool(migrated_pool: asyncpg.Pool) -> asyncpg.Pool:
    return migrated_pool


async def test_nothing_after_deleted_brings_an_installation_back(pool: asyncpg.Pool) -> None:
    """installation_repositories, new_permissions_accepted, unsuspend and a late created after
    deleted leave it deleted, with no repositories."""
    await installation(pool, "created", repositories=[{"id": 1, "full_name": "octo-org/a"}])
    assert (await installation(pool, "deleted")).status == "processed"
    for late in ("added", "removed"):
        assert (await repositories(pool, late)).status == "ignored"
    for action in ("new_permissions_accepted", "unsuspend", "created"):
        outcome = await installation(pool, action)
        assert outcome.status == "ignored", outcome
        assert "deleted" in outcome.description
    assert await status(pool) == "deleted"
    assert await pool.fetchval("SELECT count(*) FROM super_agent.installation_repositories") == 0


async def test_a_suspension_is_lifted_only_by_unsuspend(pool: asyncpg.Pool) -> None:
    """Repository changes, new permissions and a redelivered created keep a suspended installation
    suspended (its repositories still tracked); unsuspend makes it active."""
    await installation(pool, "created")
    await installation(pool, "suspend")
    await repositories(pool, "added")
    await installation(pool, "new_permissions_accepted")
    await installation(pool, "created")
    assert await status(pool) == "suspended"
    assert await pool.fetchval("SELECT count(*) FROM super_agent.installation_repositories") == 1
    await installation(pool, "unsuspend")
    row = await pool.fetchrow(
        "SELECT status, suspended_at FROM super_agent.installations WHERE github_id = $1", INSTALLATION
    )
    assert (row["status"], row["suspended_at"]) == ("active", None)


async def test_deleted_for_an_installation_never_seen_is_ignored_and_makes_nothing(
    pool: asyncpg.Pool,
) -> None:
    """`deleted` for an unknown installation is ignored, saying why; no account, team or
    installation is created, and the outcome does not claim a deletion."""
    outcome = await installation(pool, "deleted")
    assert outcome.status == "ignored"
    assert "never seen" in outcome.description
    for table in ("accounts", "teams", "installations"):
        assert await pool.fetchval(f"SELECT count(*) FROM super_agent.{table}") == 0, table
