"""Connections for `mno` commands: one try, a bounded wait, and one line saying what is unreachable.

The agents wait for their servers (they retry at start and reconnect forever); a command run by
a person must not: it fails fast, naming the server and the address it tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from shared.config import Settings
from shared.config.urls import redacted_url
from shared.db.postgres import create_pool

CONNECT_TIMEOUT_SECONDS = 5.0


class ServerUnavailable(Exception):
    """A server a command needs did not answer; str() is the one line to show."""

    def __init__(self, server: str, addresses: str | Sequence[str], error: BaseException | None):
        self.server = server
        # Shown to a person: without passwords or tokens, whoever raises it.
        self.address = ", ".join(map(redacted_url, [addresses] if isinstance(addresses, str) else addresses))
        super().__init__(f"cannot reach {server} at {self.address}: {describe_error(error)}")


def describe_error(error: BaseException | None) -> str:
    """A short, single-line reason."""
    if error is None:
        return "no answer"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is it running?)"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def connect_nats(settings: Settings, *, timeout: float = CONNECT_TIMEOUT_SECONDS) -> NatsClient:
    """One connection attempt per server, no reconnects; ServerUnavailable when none answers."""
    cfg = settings.nats
    errors: list[Exception] = []

    async def remember(error: Exception) -> None:
        # nats-py's default logs every failed attempt with a traceback.
        errors.append(error)

    try:
        return await asyncio.wait_for(
            nats.connect(
                servers=cfg.servers,
                name=f"{cfg.name_prefix}-cli",
                connect_timeout=min(cfg.connect_timeout_seconds, timeout),
                # 0 would mean "no limit" to nats-py: it would try forever.
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                allow_reconnect=False,
                error_cb=remember,
                user=cfg.user.get_secret_value() if cfg.user else None,
                password=cfg.password.get_secret_value() if cfg.password else None,
                token=cfg.token.get_secret_value() if cfg.token else None,
            ),
            # Every server tried twice (nats-py's minimum), each within the connect timeout.
            timeout=2 * timeout * len(cfg.servers) + 1.0,
        )
    except (OSError, TimeoutError, nats.errors.Error) as error:
        cause = errors[-1] if errors else error
        raise ServerUnavailable("NATS", cfg.servers, cause) from error


async def connect_postgres(dsn: str, *, command_timeout: float = 120.0) -> asyncpg.Pool:
    """A small pool after one connection attempt; ServerUnavailable when it fails."""
    try:
        return await create_pool(
            dsn,
            min_size=1,
            max_size=2,
            command_timeout=command_timeout,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry_for_seconds=0.0,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise ServerUnavailable("PostgreSQL", dsn, error) from error
