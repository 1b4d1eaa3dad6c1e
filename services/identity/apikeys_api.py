"""The /api/v1/apikeys operations, for the principal of the request and its team only; creating and
revoking a key append their audit entry in the same transaction."""

from __future__ import annotations

from typing import Any

from services.identity import apikeys
from services.identity.audit_api import Acting
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.identity import (
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyRef,
    CreateApiKey,
    CreatedApiKey,
    ListApiKeys,
)
from shared.messages.permissions import effective_permissions
from shared.principals import team_of


def _state(info: ApiKeyInfo) -> dict[str, Any]:
    # Never the token or its hash: audit entries cannot be removed.
    return {
        "name": info.name,
        "permissions": sorted(p.value for p in info.permissions),
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
    }


async def create_key(pool: Any, acting: Acting, request: CreateApiKey) -> CreatedApiKey:
    principal = acting.principal
    team_id = team_of(principal)
    # No escalation: a key can do at most what its creator can do now.
    beyond = sorted(set(request.permissions) - effective_permissions(principal))
    if beyond:
        raise AgentError(
            ErrorCode.FORBIDDEN,
            "a key cannot have permissions you do not hold",
            [
                {"loc": "permissions", "message": f"not yours to grant: {p.value}", "type": "escalation"}
                for p in beyond
            ],
        )
    async with pool.acquire() as conn, conn.transaction():
        info, token = await apikeys.create(
            conn,
            team_id=team_id,
            name=request.name,
            permissions=request.permissions,
            created_by=principal.user_id,
            expires_at=request.expires_at,
        )
        await acting.record(conn, team_id, "apikeys.create", "api_key", info.key_id, after=_state(info))
    return CreatedApiKey(key=info, token=token)


async def list_keys(pool: Any, principal: Principal, request: ListApiKeys) -> ApiKeyList:
    async with pool.acquire() as conn:
        keys = await apikeys.list_keys(conn, team_of(principal), include_revoked=request.include_revoked)
    return ApiKeyList(keys=keys)


async def revoke_key(pool: Any, acting: Acting, request: ApiKeyRef) -> ApiKeyInfo:
    team_id = team_of(acting.principal)
    async with pool.acquire() as conn, conn.transaction():
        info = await apikeys.revoke(conn, team_id, request.key_id, acting.principal.user_id)
        if info is None:
            raise AgentError(ErrorCode.NOT_FOUND, f"no API key {request.key_id} in this team")
        await acting.record(conn, team_id, "apikeys.revoke", "api_key", info.key_id, after=_state(info))
    return info
