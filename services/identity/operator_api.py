"""The operator's reads across every account: the webhook delivery ledger, Marketplace
subscriptions with their history, GitHub installations; and reprocessing a failed delivery.

Not team-scoped on purpose: the routes need `platform:*`, which only the operator token holds.
Pages are keyset pages on the row's own id, newest first, so they never skip or repeat a row.
"""

from __future__ import annotations

import json
from typing import Any

from services.webhooks import deliveries, intake
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode
from shared.messages.github import WebhookReceived
from shared.messages.operator import (
    DeliveryDetail,
    DeliveryPage,
    DeliveryQuery,
    DeliverySummary,
    InstallationPage,
    InstallationQuery,
    InstallationSummary,
    Reprocessed,
    SubscriptionChange,
    SubscriptionDetail,
    SubscriptionPage,
    SubscriptionQuery,
    SubscriptionSummary,
)

HISTORY_LIMIT = 500

_DELIVERY_COLUMNS = (
    "id, endpoint, hook_id, guid, event, action, status, attempt, redeliveries, replays, "
    "last_replay_guid, last_replay_at, outcome, last_error, received_at, processed_at"
)


class _Where:
    """AND-ed conditions with numbered parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, template: str, value: Any) -> None:
        """`template` names its parameter `{}`; a None value adds nothing."""
        if value is None:
            return
        self.params.append(value)
        self.conditions.append(template.format(f"${len(self.params)}"))

    def sql(self) -> str:
        return "WHERE " + " AND ".join(self.conditions) if self.conditions else ""

    def limit(self, size: int) -> str:
        """One row more than the page, to know whether another page follows."""
        self.params.append(size + 1)
        return f"LIMIT ${len(self.params)}"


def _page_end(rows: list[Any], limit: int, key: str) -> int | None:
    return int(rows[limit - 1][key]) if len(rows) > limit else None


async def list_deliveries(conn: Connection, q: DeliveryQuery) -> DeliveryPage:
    where = _Where()
    where.add("event = {}", q.event)
    where.add("action = {}", q.action)
    where.add("status = {}", q.status)
    where.add("endpoint = {}", q.endpoint)
    where.add("id < {}", q.before)
    rows = await conn.fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM super_agent.webhook_deliveries {where.sql()} "
        f"ORDER BY id DESC {where.limit(q.limit)}",
        *where.params,
    )
    return DeliveryPage(
        deliveries=[DeliverySummary.model_validate(dict(r)) for r in rows[: q.limit]],
        next_before=_page_end(rows, q.limit, "id"),
    )


async def get_delivery(conn: Connection, delivery_id: int) -> DeliveryDetail:
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS}, target_type, target_id, payload "
        "FROM super_agent.webhook_deliveries WHERE id = $1",
        delivery_id,
    )
    if row is None:
        raise AgentError(ErrorCode.NOT_FOUND, f"no webhook delivery {delivery_id}")
    return DeliveryDetail.model_validate({**dict(row), "payload": _json(row["payload"])})


async def reprocess(pool: Any, bus: Bus, delivery_id: int, ctx: MessageContext) -> Reprocessed:
    """Queue a new processing attempt of a failed delivery (404 unknown, 409 not failed)."""
    async with pool.acquire() as conn:
        recorded = await deliveries.requeue_failed(conn, delivery_id)
        if recorded is None:
            raise AgentError(ErrorCode.NOT_FOUND, f"no webhook delivery {delivery_id}")
        if recorded.disposition != "retry":
            status = await conn.fetchval(
                "SELECT status FROM super_agent.webhook_deliveries WHERE id = $1", delivery_id
            )
            raise AgentError(
                ErrorCode.CONFLICT,
                f"webhook delivery {delivery_id} is {status}; only failed deliveries are reprocessed",
            )
        stored = await conn.fetchrow(
            "SELECT endpoint, hook_id, guid, event, action FROM super_agent.webhook_deliveries WHERE id = $1",
            delivery_id,
        )
    assert stored is not None  # deliveries are never deleted
    await intake.queue(
        bus,
        WebhookReceived(
            delivery_id=delivery_id,
            endpoint=stored["endpoint"],
            hook_id=stored["hook_id"],
            guid=stored["guid"],
            event=stored["event"],
            action=stored["action"],
            attempt=recorded.attempt,
        ),
        ctx,
    )
    return Reprocessed(
        delivery_id=delivery_id, guid=stored["guid"], status="requeued", attempt=recorded.attempt
    )


_SUBSCRIPTION_SELECT = """
    SELECT s.account_github_id, s.account_id::text AS account_id, a.login AS account_login,
           a.status AS account_status, s.status, s.plan_key, s.next_due_at, s.updated_at, s.state
    FROM super_agent.subscriptions s
    LEFT JOIN super_agent.accounts a ON a.id = s.account_id
"""


async def list_subscriptions(conn: Connection, q: SubscriptionQuery) -> SubscriptionPage:
    where = _Where()
    where.add("s.status = {}", q.status)
    where.add("s.plan_key = {}", q.plan_key)
    where.add("s.account_github_id < {}", q.before)
    rows = await conn.fetch(
        f"{_SUBSCRIPTION_SELECT} {where.sql()} ORDER BY s.account_github_id DESC {where.limit(q.limit)}",
        *where.params,
    )
    return SubscriptionPage(
        subscriptions=[SubscriptionSummary.model_validate(dict(r)) for r in rows[: q.limit]],
        next_before=_page_end(rows, q.limit, "account_github_id"),
    )


async def get_subscription(conn: Connection, account_github_id: int) -> SubscriptionDetail:
    row = await conn.fetchrow(
        f"{_SUBSCRIPTION_SELECT} WHERE s.account_github_id = $1",
        account_github_id,
    )
    if row is None:
        raise AgentError(ErrorCode.NOT_FOUND, f"no subscription for GitHub account {account_github_id}")
    history = await conn.fetch(
        "SELECT id, action, delivery_id, from_status, to_status, applied, reason, effects, recorded_at "
        "FROM super_agent.subscription_history WHERE account_github_id = $1 ORDER BY id DESC LIMIT $2",
        account_github_id,
        HISTORY_LIMIT,
    )
    fields = dict(row)
    fields["state"] = _json(fields["state"])
    return SubscriptionDetail.model_validate(
        {
            **fields,
            "history": [
                SubscriptionChange.model_validate({**dict(h), "effects": _json(h["effects"])})
                for h in history
            ],
        }
    )


async def list_installations(conn: Connection, q: InstallationQuery) -> InstallationPage:
    where = _Where()
    where.add("i.status = {}", q.status)
    where.add("i.github_id < {}", q.before)
    rows = await conn.fetch(
        f"""
        SELECT i.github_id, i.account_id::text AS account_id, a.login AS account_login, i.target_type,
               i.repository_selection, i.status, i.suspended_at, i.deleted_at, i.created_at, i.updated_at,
               (SELECT count(*) FROM super_agent.installation_repositories r
                WHERE r.installation_id = i.github_id) AS repositories
        FROM super_agent.installations i
        JOIN super_agent.accounts a ON a.id = i.account_id
        {where.sql()} ORDER BY i.github_id DESC {where.limit(q.limit)}
        """,
        *where.params,
    )
    return InstallationPage(
        installations=[InstallationSummary.model_validate(dict(r)) for r in rows[: q.limit]],
        next_before=_page_end(rows, q.limit, "github_id"),
    )


def _json(value: Any) -> Any:
    """A jsonb column as Python data, whether or not the pool decodes jsonb itself."""
    return json.loads(value) if isinstance(value, str) else value
