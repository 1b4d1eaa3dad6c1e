"""Who acts in an identity write and how it is recorded in the audit log; and the /api/v1/audit
reads (query and export) for the principal's team only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.audit import store as audit_store
from services.audit.models import AuditActor, AuditEntry, AuditPage, AuditQuery, NewAuditEntry
from shared.bus.codec import validation_details
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.teams import AuditFilter
from shared.principals import team_of

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Acting:
    """The principal of a write and where the request came from, for its audit entry."""

    principal: Principal
    ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None

    def system_context(self) -> MessageContext:
        """For events the write causes: sent by the platform, under the request's correlation id."""
        if self.correlation_id:
            return MessageContext(correlation_id=self.correlation_id, principal=Principal.system())
        return MessageContext(principal=Principal.system())

    def actor(self) -> AuditActor:
        return AuditActor.from_principal(self.principal, ip=_usable_ip(self.ip), user_agent=self.user_agent)

    async def record(
        self,
        conn: Connection,
        team_id: str,
        action: str,
        resource_type: str,
        resource_id: str | None,
        *,
        before: Any = None,
        after: Any = None,
    ) -> AuditEntry:
        """Append the entry to `team_id`'s chain in the caller's transaction (make it the last
        statement: it holds the chain's head until the commit)."""
        return await audit_store.append(
            conn,
            team_id,
            NewAuditEntry(
                actor=self.actor(),
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                before=before,
                after=after,
                correlation_id=self.correlation_id,
            ),
        )


def _usable_ip(value: str | None) -> str | None:
    # The audit model refuses what is not an address; a peer without one (a Unix socket) must not
    # make the audited change fail.
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


def audit_query(request: AuditFilter) -> AuditQuery:
    """The store's query for the API's filters; `actor` is a user id (a UUID) or an API key id."""
    actor = request.actor
    fields: dict[str, Any] = {
        "action": request.action,
        "resource_type": request.resource,
        "resource_id": request.resource_id,
        "actor_user_id": actor if actor is not None and _UUID.match(actor) else None,
        "actor_api_key_id": actor if actor is not None and not _UUID.match(actor) else None,
        "since": request.since,
        "until": request.until,
        "limit": request.limit,
        "cursor": request.cursor,
    }
    try:
        return AuditQuery.model_validate(fields)
    except ValidationError as error:
        raise AgentError(
            ErrorCode.VALIDATION_FAILED, "the audit filters are not valid", validation_details(error)
        ) from error


async def query(pool: Any, principal: Principal, request: AuditFilter) -> AuditPage:
    q = audit_query(request)
    async with pool.acquire() as conn:
        return await audit_store.query(conn, team_of(principal), q)


async def export(
    pool: Any, principal: Principal, format: audit_store.ExportFormat
) -> AsyncGenerator[bytes, None]:
    """The team's whole log, oldest first, in chunks; holds a pooled connection until exhausted."""
    team_id = team_of(principal)
    async with pool.acquire() as conn:
        async for chunk in audit_store.export(conn, team_id, format):
            yield chunk
