"""The dashboard's one-time sign-in link for the `mno run` banner (the local administrator, no GitHub)."""

from __future__ import annotations

import asyncio

from services.identity import local_sign_in
from shared.db.postgres import create_pool


async def _new_token(dsn: str) -> str | None:
    pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=30)
    try:
        async with pool.acquire() as conn:
            return await local_sign_in.create_link(conn)
    finally:
        await pool.close()


def sign_in_link(edge_url: str, dsn: str) -> str:
    """A new link (each banner has its own; opening one uses it up), or where to sign in instead."""
    token = asyncio.run(_new_token(dsn))
    if token is None:
        return f"{edge_url}/sign-in"
    return local_sign_in.link_url(edge_url, token)
