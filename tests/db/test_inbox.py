"""Inbox claims against a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db.identifiers import InvalidIdentifierError
from shared.db.inbox import ClaimOutsideTransactionError, claim
from shared.db.migrations import migrate


@pytest.fixture
async def monitoring_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await migrate(pool, "monitoring")
    return pool


async def test_claim_is_true_once_then_false(monitoring_pool: asyncpg.Pool) -> None:
    """The first claim of a message id wins; later deliveries are recognised as duplicates."""
    async with monitoring_pool.acquire() as connection:
        async with connection.transaction():
            assert await claim(connection, "monitoring", "alerts", "msg-1") is True
        async with connection.transaction():
            assert await claim(connection, "monitoring", "alerts", "msg-1") is False
        async with connection.transaction():
            assert await claim(connection, "monitoring", "another-consumer", "msg-1") is True


async def test_rolled_back_claim_can_be_claimed_again(monitoring_pool: asyncpg.Pool) -> None:
    """A handler that fails before commit leaves no claim, so the redelivery is processed."""
    async with monitoring_pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        assert await claim(connection, "monitoring", "alerts", "msg-2") is True
        await transaction.rollback()  # the handler failed before commit
        async with connection.transaction():
            assert await claim(connection, "monitoring", "alerts", "msg-2") is True


async def test_claim_outside_a_transaction_is_refused(monitoring_pool: asyncpg.Pool) -> None:
    """An autocommit claim would survive a failed handler, so it is rejected."""
    async with monitoring_pool.acquire() as connection:
        with pytest.raises(ClaimOutsideTransactionError):
            await claim(connection, "monitoring", "alerts", "msg-3")


async def test_claim_rejects_unsafe_schema_names(monitoring_pool: asyncpg.Pool) -> None:
    """Schema names are spliced into SQL, so anything but a plain identifier is refused."""
    async with monitoring_pool.acquire() as connection, connection.transaction():
        with pytest.raises(InvalidIdentifierError):
            await claim(connection, 'monitoring"; DROP TABLE x; --', "alerts", "msg-4")
