"""Applying `installation` and `installation_repositories` webhooks to accounts and installations.

An installation's status moves only on the events that really change it (`installation_status_after`):
`suspend` / `unsuspend` toggle a suspension and `deleted` is final. GitHub gives a re-installed App a
new installation id, so nothing delivered after `deleted` for the same id (a late or redelivered
`created`, an `installation_repositories`) can bring that installation back.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome, WebhookDispatcher
from shared.db.inbox import Connection


class GitHubAccountRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    login: str
    type: str


class RepositoryRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    full_name: str
    private: bool = False


class InstallationRef(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    account: GitHubAccountRef
    target_type: str = "Organization"
    repository_selection: str | None = None
    permissions: dict[str, str] = {}
    events: list[str] = []


class InstallationEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: str
    installation: InstallationRef
    sender: GitHubAccountRef | None = None
    repositories: list[RepositoryRef] = []
    repositories_added: list[RepositoryRef] = []
    repositories_removed: list[RepositoryRef] = []


def team_slug(login: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", login.lower()).strip("-")
    return slug or "team"


InstallationStatus = Literal["active", "suspended", "deleted"]


def installation_status_after(current: InstallationStatus | None, action: str) -> InstallationStatus | None:
    """The status an installation has after an `installation` action (None: not recorded at all).

    Only `created` makes an unseen installation, only `suspend` and `unsuspend` move a live one, and
    `deleted` is final; every other action (`new_permissions_accepted`, repository changes, a late
    `created`) leaves the status as it is.
    """
    if current == "deleted":
        return "deleted"
    match action:
        case "deleted":
            return "deleted" if current is not None else None
        case "suspend":
            return "suspended"
        case "unsuspend":
            return "active"
        case _:
            return current if current is not None else "active"


async def installation_status(conn: Connection, installation_id: int) -> InstallationStatus | None:
    status: InstallationStatus | None = await conn.fetchval(
        "SELECT status FROM super_agent.installations WHERE github_id = $1 FOR UPDATE", installation_id
    )
    return status


async def ensure_account(conn: Connection, account: GitHubAccountRef) -> Any:
    """The account for a GitHub user or organisation, created with its default team if new (or if
    its teams were purged). Its status is not touched: only a purchase reactivates an account
    (`lifecycle.reactivate_account`); until then a purged account's new team serves nobody."""
    kind = account.type if account.type in ("User", "Organization") else "Organization"
    # Whether it has its default team comes with the upsert (one round trip for an account seen
    # before, as on every webhook); only one without goes on to `ensure_default_team`, which reads
    # again under a fresh snapshot (a concurrent transaction may just have made the team).
    row = await conn.fetchrow(
        """
        WITH account AS (
            INSERT INTO super_agent.accounts (github_id, login, kind) VALUES ($1, $2, $3)
            ON CONFLICT (github_id) DO UPDATE SET login = EXCLUDED.login, updated_at = now()
            RETURNING id
        )
        SELECT a.id, EXISTS (SELECT 1 FROM super_agent.teams t WHERE t.account_id = a.id AND t.is_default)
            AS has_default
        FROM account a
        """,
        account.id,
        account.login,
        kind,
    )
    if not row["has_default"]:
        await ensure_default_team(conn, row["id"])
    return row["id"]


async def ensure_default_team(conn: Connection, account_id: Any) -> None:
    """Give an account its default team if it has none (new, or its teams were purged)."""
    account = await conn.fetchrow(
        "SELECT login, EXISTS (SELECT 1 FROM super_agent.teams t WHERE t.account_id = a.id "
        "AND t.is_default) AS has_default FROM super_agent.accounts a WHERE a.id = $1::uuid",
        str(account_id),
    )
    if account is None or account["has_default"]:
        return
    base = team_slug(account["login"])
    # Another team of the account may hold the slug already (one left over from before a purge).
    for attempt in range(1, 100):
        slug = base if attempt == 1 else f"{base}-{attempt}"
        created = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1::uuid, $2, $3, true) ON CONFLICT DO NOTHING RETURNING true",
            str(account_id),
            slug,
            account["login"],
        )
        if created:
            return


async def upsert_installation(conn: Connection, installation: InstallationRef, account_id: Any) -> None:
    """Record an installation's settings. A new one is active; an existing one keeps its status
    (see `installation_status_after`: only suspend, unsuspend and deleted move it)."""
    await conn.execute(
        """
        INSERT INTO super_agent.installations
            (github_id, account_id, target_type, repository_selection, permissions, events, status)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, 'active')
        ON CONFLICT (github_id) DO UPDATE SET
            account_id = EXCLUDED.account_id, target_type = EXCLUDED.target_type,
            repository_selection = EXCLUDED.repository_selection, permissions = EXCLUDED.permissions,
            events = EXCLUDED.events, updated_at = now()
        """,
        installation.id,
        account_id,
        installation.target_type,
        installation.repository_selection,
        installation.permissions,
        installation.events,
    )


async def record_installer(
    conn: Connection, installation_id: int, account_id: Any, github_user_id: int
) -> None:
    """Remember who installed the App and, if they have signed in already, make them owner of the
    account's default team (the setup URL may have been visited before this webhook arrived)."""
    await conn.execute(
        "UPDATE super_agent.installations SET installed_by_github_id = $2 WHERE github_id = $1",
        installation_id,
        github_user_id,
    )
    await conn.execute(
        """
        INSERT INTO super_agent.team_members (team_id, user_id, role)
        SELECT t.id, u.id, 'owner' FROM super_agent.teams t, super_agent.users u
        WHERE t.account_id = $1 AND t.is_default AND u.github_id = $2
        ON CONFLICT (team_id, user_id) DO UPDATE SET role = 'owner'
        """,
        account_id,
        github_user_id,
    )


async def forget_installation_tokens(conn: Connection, installation_id: int) -> None:
    """GitHub revokes an uninstalled or suspended installation's tokens; drop our encrypted copies."""
    await conn.execute(
        "DELETE FROM super_agent.installation_tokens WHERE installation_id = $1", installation_id
    )


async def _add_repositories(
    conn: Connection, installation_id: int, repositories: list[RepositoryRef]
) -> None:
    # One statement for the whole list (executemany is a statement per repository); one row per
    # repository, the last of its mentions winning, as row-by-row upserts would leave it.
    unique = list({repository.id: repository for repository in repositories}.values())
    if not unique:
        return
    await conn.execute(
        """
        INSERT INTO super_agent.installation_repositories
            (installation_id, repository_id, full_name, private)
        SELECT $1, repository_id, full_name, private
        FROM unnest($2::bigint[], $3::text[], $4::boolean[]) AS r (repository_id, full_name, private)
        ON CONFLICT (installation_id, repository_id) DO UPDATE SET full_name = EXCLUDED.full_name,
            private = EXCLUDED.private
        """,
        installation_id,
        [r.id for r in unique],
        [r.full_name for r in unique],
        [r.private for r in unique],
    )


async def on_installation(conn: Connection, stored: StoredDelivery) -> Outcome:
    event = InstallationEvent.model_validate(stored.payload)
    installation = event.installation
    current = await installation_status(conn, installation.id)
    after = installation_status_after(current, event.action)
    if after is None:
        # Nothing of it was ever recorded here: nothing to delete, and no account to make for it.
        return Outcome(
            "ignored", f"installation {installation.id} {event.action}: never seen here, nothing recorded"
        )
    if current == "deleted":
        return Outcome(
            "ignored",
            f"installation {installation.id} {event.action}: it was deleted, and GitHub never reuses "
            "an installation id",
        )
    if event.action not in ("created", "new_permissions_accepted", "suspend", "unsuspend", "deleted"):
        return Outcome("ignored", f"installation action {event.action!r} needs nothing from us")
    if event.action == "deleted":
        await conn.execute(
            "UPDATE super_agent.installations SET status = 'deleted', deleted_at = now(), "
            "updated_at = now() WHERE github_id = $1",
            installation.id,
        )
        await conn.execute(
            "DELETE FROM super_agent.installation_repositories WHERE installation_id = $1", installation.id
        )
        await forget_installation_tokens(conn, installation.id)
        return Outcome("processed", f"installation {installation.id} deleted")
    account_id = await ensure_account(conn, installation.account)
    await upsert_installation(conn, installation, account_id)
    if event.action == "created":
        await _add_repositories(conn, installation.id, event.repositories)
        if event.sender is not None:
            await record_installer(conn, installation.id, account_id, event.sender.id)
    if after == "suspended":
        await forget_installation_tokens(conn, installation.id)
    if after != current:
        await conn.execute(
            "UPDATE super_agent.installations SET status = $2, updated_at = now(), "
            "suspended_at = CASE WHEN $2 = 'suspended' THEN now() END WHERE github_id = $1",
            installation.id,
            after,
        )
    moved = f"{current or 'new'} -> {after}" if after != current else f"stays {after}"
    return Outcome("processed", f"installation {installation.id} {event.action} ({moved})")


async def on_installation_repositories(conn: Connection, stored: StoredDelivery) -> Outcome:
    """Repository selection changes; the installation's status is not theirs to change."""
    event = InstallationEvent.model_validate(stored.payload)
    installation = event.installation
    if event.action not in ("added", "removed"):
        return Outcome("ignored", f"installation_repositories action {event.action!r} is unknown")
    current = await installation_status(conn, installation.id)
    if current == "deleted":
        return Outcome(
            "ignored", f"installation {installation.id} was deleted: its repositories are not recorded"
        )
    # An installation first heard of here exists at GitHub (it has repositories): record it.
    account_id = await ensure_account(conn, installation.account)
    await upsert_installation(conn, installation, account_id)
    if event.action == "added":
        await _add_repositories(conn, installation.id, event.repositories_added)
    else:
        await conn.execute(
            "DELETE FROM super_agent.installation_repositories WHERE installation_id = $1 "
            "AND repository_id = ANY($2::bigint[])",
            installation.id,
            [r.id for r in event.repositories_removed],
        )
    added, removed = len(event.repositories_added), len(event.repositories_removed)
    return Outcome("processed", f"installation {installation.id}: +{added} -{removed} repositories")


async def on_ping(_conn: Connection, stored: StoredDelivery) -> Outcome:
    return Outcome("ignored", f"ping from hook {stored.hook_id}")


def register_installation_handlers(dispatcher: WebhookDispatcher) -> None:
    dispatcher.register("app", "installation", on_installation)
    dispatcher.register("app", "installation_repositories", on_installation_repositories)
    dispatcher.register("app", "ping", on_ping)
    dispatcher.register("marketplace", "ping", on_ping)
