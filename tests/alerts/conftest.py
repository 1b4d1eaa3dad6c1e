from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from services.alerts.channels import ChannelDependencies
from services.alerts.dispatcher import AlertDispatcher
from services.alerts.http import HttpPoster
from services.alerts.retry import RetryPolicy
from services.alerts.store import AlertStore
from shared.crypto import SecretBox
from shared.email import EmailSender
from shared.messages.alerts import Alert, AlertKind, AlertSeverity
from tests.alerts.receiver import Receiver, receiver
from tests.email.smtp_server import SmtpServer, smtp_server

# Tiny delays so retries happen within a test; the policy's arithmetic has its own tests.
FAST = RetryPolicy(max_attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.05, max_retry_after_seconds=2)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


@pytest.fixture
async def slack() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def box() -> SecretBox:
    return SecretBox({"k1": os.urandom(32)}, "k1")


def make_dispatcher(
    pool: asyncpg.Pool,
    box: SecretBox | None,
    smtp: SmtpServer,
    *,
    policy: RetryPolicy = FAST,
    allow_private: bool = True,
    lease_seconds: float = 30.0,
    max_inline_wait_seconds: float = 5.0,
) -> AlertDispatcher:
    deps = ChannelDependencies(
        email=EmailSender(smtp.settings()), http=HttpPoster(allow_private=allow_private, timeout_seconds=5)
    )
    return AlertDispatcher(
        AlertStore(pool, box),
        deps,
        policy,
        allow_private_targets=allow_private,
        lease_seconds=lease_seconds,
        max_inline_wait_seconds=max_inline_wait_seconds,
    )


@pytest.fixture
def dispatcher(migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer) -> AlertDispatcher:
    return make_dispatcher(migrated_pool, box, smtp)


def new_team() -> str:
    return str(uuid.uuid4())


def budget_alert(key: str = "budget:b1:2025-01-01:80") -> Alert:
    return Alert(
        kind=AlertKind.BUDGET_THRESHOLD,
        severity=AlertSeverity.WARNING,
        title="Budget 'prod' at 80%",
        text="Team spend reached $80.00 of the $100.00 monthly budget.",
        details={"budget_id": "b1", "threshold": 80, "spent_usd": "80.00"},
        dedup_key=key,
    )
