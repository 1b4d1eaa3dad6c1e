"""A team's reads of its own account's GitHub link: installations, their repositories, and the
webhook deliveries about the account.

An installation belongs to an account (`installations.account_id`, set from the payload's
`installation.account`), and every team of the account sees it. A delivery has no account column:
it is the account's when its payload names one of the account's installations (`installation.id`
of an App event: the installation it was sent for) or the account itself (`installation.account`
of an installation GitHub sent before we recorded it; `marketplace_purchase.account` of a
Marketplace event, whose own `installation` field is not the buyer's to rely on, hence the
endpoint condition). GitHub signs the payload, so these ids are its word. Migration 0016 indexes
both expressions.

Anything of another account is "not found", never "forbidden": its existence is not told.
"""

from __future__ import annotations

from typing import Any

from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode
from shared.messages.github_links import (
    LedgerEntry,
    LedgerPage,
    LedgerQuery,
    LinkedInstallation,
    LinkedInstallationPage,
    LinkedInstallationQuery,
    LinkedRepository,
    RepositoryPage,
    RepositoryQuery,
)

_ACCOUNT_OF_TEAM = "(SELECT account_id FROM super_agent.teams WHERE id = $1::uuid)"

# The two expressions migration 0016 indexes; a query must spell them the same to use the indexes.
DELIVERY_INSTALLATION = "(d.payload -> 'installation' ->> 'id')"
DELIVERY_ACCOUNT = (
    "(COALESCE(d.payload -> 'marketplace_purchase' -> 'account' ->> 'id', "
    "d.payload -> 'installation' -> 'account' ->> 'id'))"
)


class _Params:
    """Numbered query parameters; the team's id is always $1."""

    def __init__(self, team_id: str) -> None:
        self.values: list[Any] = [team_id]

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _optional(params: _Params, template: str, value: Any) -> str:
    """` AND <template>` with its parameter, or nothing when the filter is not given."""
    return "" if value is None else " AND " + template.format(params.add(value))


async def list_installations(
    conn: Connection, team_id: str, q: LinkedInstallationQuery
) -> LinkedInstallationPage:
    params = _Params(team_id)
    filters = _optional(params, "i.status = {}", q.status) + _optional(params, "i.github_id < {}", q.before)
    limit = params.add(q.limit + 1)
    rows = await conn.fetch(
        f"""
        SELECT i.github_id, a.login AS account_login, i.target_type, i.repository_selection, i.status,
               i.suspended_at, i.deleted_at, i.created_at, i.updated_at,
               (SELECT count(*) FROM super_agent.installation_repositories r
                WHERE r.installation_id = i.github_id) AS repositories
        FROM super_agent.installations i JOIN super_agent.accounts a ON a.id = i.account_id
        WHERE i.account_id = {_ACCOUNT_OF_TEAM}{filters}
        ORDER BY i.github_id DESC LIMIT {limit}
        """,
        *params.values,
    )
    shown = rows[: q.limit]
    return LinkedInstallationPage(
        installations=[LinkedInstallation.model_validate(dict(r)) for r in shown],
        next_before=shown[-1]["github_id"] if len(rows) > q.limit else None,
    )


async def list_repositories(conn: Connection, team_id: str, q: RepositoryQuery) -> RepositoryPage:
    """The repositories an installation of the team's account grants; 404 for any other id."""
    ours = await conn.fetchval(
        "SELECT true FROM super_agent.installations "
        f"WHERE github_id = $2 AND account_id = {_ACCOUNT_OF_TEAM}",
        team_id,
        q.installation_id,
    )
    if not ours:
        raise AgentError(ErrorCode.NOT_FOUND, f"no installation {q.installation_id} in your account")
    rows = await conn.fetch(
        "SELECT repository_id AS id, full_name, private, added_at FROM super_agent.installation_repositories "
        "WHERE installation_id = $1 AND repository_id > $2 ORDER BY repository_id LIMIT $3",
        q.installation_id,
        q.after or 0,
        q.limit + 1,
    )
    shown = rows[: q.limit]
    return RepositoryPage(
        installation_id=q.installation_id,
        repositories=[LinkedRepository.model_validate(dict(r)) for r in shown],
        next_after=shown[-1]["id"] if len(rows) > q.limit else None,
    )


async def list_deliveries(conn: Connection, team_id: str, q: LedgerQuery) -> LedgerPage:
    """The webhook deliveries about the team's account, newest first (a local account has none)."""
    params = _Params(team_id)
    filters = (
        _optional(params, "d.event = {}", q.event)
        + _optional(params, "d.status = {}", q.status)
        + _optional(params, "d.id < {}", q.before)
    )
    limit = params.add(q.limit + 1)
    rows = await conn.fetch(
        f"""
        WITH account AS (
            SELECT a.id, a.github_id::text AS github_id FROM super_agent.accounts a
            WHERE a.id = {_ACCOUNT_OF_TEAM}
        )
        SELECT d.id, d.endpoint, d.guid, d.event, d.action, d.status, d.attempt, d.redeliveries,
               d.replays, d.outcome, d.received_at, d.processed_at
        FROM super_agent.webhook_deliveries d
        WHERE (d.endpoint = 'app' AND {DELIVERY_INSTALLATION} IN (
                   SELECT i.github_id::text FROM super_agent.installations i
                   WHERE i.account_id = (SELECT id FROM account))
               OR {DELIVERY_ACCOUNT} = (SELECT github_id FROM account)){filters}
        ORDER BY d.id DESC LIMIT {limit}
        """,
        *params.values,
    )
    shown = rows[: q.limit]
    return LedgerPage(
        deliveries=[LedgerEntry.model_validate(dict(r)) for r in shown],
        next_before=shown[-1]["id"] if len(rows) > q.limit else None,
    )
