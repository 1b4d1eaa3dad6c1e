"""Installation tokens cached in PostgreSQL (ciphertext only), shared by every SuperAgent replica."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.github.token_cache import StoredToken, TokenStore


class PostgresTokenStore(TokenStore):
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def get(self, installation_id: int, scope_key: str) -> StoredToken | None:
        row = await self.pool.fetchrow(
            "SELECT ciphertext, expires_at FROM super_agent.installation_tokens "
            "WHERE installation_id = $1 AND scope_key = $2",
            installation_id,
            scope_key,
        )
        if row is None:
            return None
        return StoredToken(installation_id, scope_key, bytes(row["ciphertext"]), row["expires_at"])

    async def put(self, token: StoredToken) -> None:
        await self.pool.execute(
            """
            INSERT INTO super_agent.installation_tokens (installation_id, scope_key, ciphertext, expires_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (installation_id, scope_key) DO UPDATE
                SET ciphertext = EXCLUDED.ciphertext, expires_at = EXCLUDED.expires_at
            """,
            token.installation_id,
            token.scope_key,
            token.ciphertext,
            token.expires_at,
        )

    async def delete(self, installation_id: int, scope_key: str) -> None:
        await self.pool.execute(
            "DELETE FROM super_agent.installation_tokens WHERE installation_id = $1 AND scope_key = $2",
            installation_id,
            scope_key,
        )

    async def delete_installation(self, installation_id: int) -> int:
        status = await self.pool.execute(
            "DELETE FROM super_agent.installation_tokens WHERE installation_id = $1", installation_id
        )
        return int(status.split()[-1])

    async def delete_expired(self, now: datetime) -> int:
        status = await self.pool.execute(
            "DELETE FROM super_agent.installation_tokens WHERE expires_at <= $1", now
        )
        return int(status.split()[-1])
