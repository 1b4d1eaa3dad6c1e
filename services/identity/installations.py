"""Applying `installation` and `installation_repositories` webhooks to accounts and installations."""

from __future__ import annotations

import re
from typing import Any

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


async def ensure_account(conn: Connection, account: GitHubAccountRef) -> Any:
    """The account for a GitHub user or organisation, created with its default team if new."""
    kind = account.type if account.type in ("User", "Organization") else "Organization"
    account_id = await conn.fetchval(
        """
        INSERT INTO super_agent.accounts (github_id, login, kind) VALUES ($1, $2, $3)
        ON CONFLICT (github_id) DO UPDATE SET login = EXCLUDED.login, updated_at = now()
        RETURNING id
        """,
        account.id,
        account.login,
        kind,
    )
    await conn.execute(
        """
        INSERT INTO super_agent.teams (account_id, slug, name, is_default) VALUES ($1, $2, $3, true)
        ON CONFLICT DO NOTHING
        """,
        account_id,
        team_slug(account.login),
        account.login,
    )
    return account_id


async def upsert_installation(conn: Connection, installation: InstallationRef, account_id: Any) -> None:
    await conn.execute(
        """
        INSERT INTO super_agent.installations
            (github_id, account_id, target_type, repository_selection, permissions, events, status)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, 'active')
        ON CONFLICT (github_id) DO UPDATE SET
            account_id = EXCLUDED.account_id, target_type = EXCLUDED.target_type,
            repository_selection = EXCLUDED.repository_selection, permissions = EXCLUDED.permissions,
            events = EXCLUDED.events, status = 'active', deleted_at = NULL, suspended_at = NULL,
            updated_at = now()
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
    await conn.executemany(
        """
        INSERT INTO super_agent.installation_repositories
            (installation_id, repository_id, full_name, private)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (installation_id, repository_id) DO UPDATE SET full_name = EXCLUDED.full_name,
            private = EXCLUDED.private
        """,
        [(installation_id, r.id, r.full_name, r.private) for r in repositories],
    )


async def on_installation(conn: Connection, stored: StoredDelivery) -> Outcome:
    event = InstallationEvent.model_validate(stored.payload)
    installation = event.installation
    account_id = await ensure_account(conn, installation.account)
    match event.action:
        case "created" | "new_permissions_accepted" | "unsuspend":
            await upsert_installation(conn, installation, account_id)
            if event.action == "created":
                await _add_repositories(conn, installation.id, event.repositories)
                if event.sender is not None:
                    await record_installer(conn, installation.id, account_id, event.sender.id)
        case "suspend":
            await upsert_installation(conn, installation, account_id)
            await forget_installation_tokens(conn, installation.id)
            await conn.execute(
                "UPDATE super_agent.installations SET status = 'suspended', suspended_at = now() "
                "WHERE github_id = $1",
                installation.id,
            )
        case "deleted":
            await conn.execute(
                "UPDATE super_agent.installations SET status = 'deleted', deleted_at = now(), "
                "updated_at = now() WHERE github_id = $1",
                installation.id,
            )
            await conn.execute(
                "DELETE FROM super_agent.installation_repositories WHERE installation_id = $1",
                installation.id,
            )
            await forget_installation_tokens(conn, installation.id)
        case _:
            return Outcome("ignored", f"installation action {event.action!r} needs nothing from us")
    return Outcome("processed", f"installation {installation.id} {event.action}")


async def on_installation_repositories(conn: Connection, stored: StoredDelivery) -> Outcome:
    event = InstallationEvent.model_validate(stored.payload)
    installation = event.installation
    account_id = await ensure_account(conn, installation.account)
    await upsert_installation(conn, installation, account_id)
    if event.action == "added":
        await _add_repositories(conn, installation.id, event.repositories_added)
    elif event.action == "removed":
        await conn.execute(
            "DELETE FROM super_agent.installation_repositories WHERE installation_id = $1 "
            "AND repository_id = ANY($2::bigint[])",
            installation.id,
            [r.id for r in event.repositories_removed],
        )
    else:
        return Outcome("ignored", f"installation_repositories action {event.action!r} is unknown")
    added, removed = len(event.repositories_added), len(event.repositories_removed)
    return Outcome("processed", f"installation {installation.id}: +{added} -{removed} repositories")


async def on_ping(_conn: Connection, stored: StoredDelivery) -> Outcome:
    return Outcome("ignored", f"ping from hook {stored.hook_id}")


def register_installation_handlers(dispatcher: WebhookDispatcher) -> None:
    dispatcher.register("app", "installation", on_installation)
    dispatcher.register("app", "installation_repositories", on_installation_repositories)
    dispatcher.register("app", "ping", on_ping)
    dispatcher.register("marketplace", "ping", on_ping)
