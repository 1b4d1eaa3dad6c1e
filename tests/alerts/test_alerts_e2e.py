"""Alert channels and history through the real edge, NATS and MonitoringAgent: an e-mail channel
and a signed webhook tested and delivered to (aiosmtpd, an aiohttp receiver), history pages, the
writes audited, secrets shown once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from services.alerts.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from services.alerts.signing import verify_signature
from services.alerts.store import AlertStore
from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.alerts import Alert, AlertKind, AlertSeverity
from tests.alerts.receiver import Receiver, receiver
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.fixtures.edge import call, until
from tests.fixtures.mesh import MeshLauncher


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


async def start(launcher: MeshLauncher, smtp: SmtpServer, *, allow_private: bool) -> asyncpg.Pool:
    """SuperAgent and MonitoringAgent with e-mail on and an encryption key; a pool on their database."""
    key = base64.b64encode(os.urandom(32)).decode()
    launcher.overrides = {
        "email": smtp.settings().model_dump(mode="json", exclude_none=True),
        "alerts": {"allow_private_targets": allow_private},
        "auth": {"encryption_keys": [f"k1:{key}"]},
    }
    await asyncio.gather(
        asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT),
        asyncio.to_thread(launcher.start, AgentName.MONITORING),
    )
    return await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=10)


@pytest.fixture
async def pool(launcher: MeshLauncher, smtp: SmtpServer) -> AsyncIterator[asyncpg.Pool]:
    """The agents with private alert targets allowed: the receivers listen on 127.0.0.1."""
    db = await start(launcher, smtp, allow_private=True)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def guarded_pool(launcher: MeshLauncher, smtp: SmtpServer) -> AsyncIterator[asyncpg.Pool]:
    """The agents with the egress guard as shipped (private targets refused)."""
    db = await start(launcher, smtp, allow_private=False)
    try:
        yield db
    finally:
        await db.close()


def alert(key: str, kind: AlertKind = AlertKind.BUDGET_THRESHOLD) -> Alert:
    return Alert(
        kind=kind, severity=AlertSeverity.WARNING, title=f"Alert {key}", text="Spend is up.", dedup_key=key
    )


async def test_channels_tested_alerts_delivered_history_paged_and_writes_audited(
    launcher: MeshLauncher, pool: asyncpg.Pool, smtp: SmtpServer, hook: Receiver
) -> None:
    """E-mail and webhook channels created and tested at the edge, a raised alert delivered by the
    agent's delivery job to both (signature verifies), history filtered and paged, writes audited."""
    admin = await ensure_local_admin(pool)
    team = await pool.fetchval("SELECT id::text FROM super_agent.teams WHERE slug = 'local'")

    status, mail = await call(
        launcher,
        "POST",
        "/api/v1/alert-channels",
        admin,
        {"name": "ops mail", "config": {"kind": "email", "recipients": ["ops@example.com"]}},
    )
    assert status == 201, mail
    assert mail["signing_secret"] is None
    mail_id = mail["channel"]["id"]
    status, result = await call(launcher, "POST", f"/api/v1/alert-channels/{mail_id}/test", admin, {})
    assert (status, result["ok"]) == (200, True), result
    [test_mail] = smtp.handler.received
    assert test_mail.rcpt_tos == ["ops@example.com"]
    assert "Test message" in test_mail.message["Subject"]

    status, created = await call(
        launcher,
        "POST",
        "/api/v1/alert-channels",
        admin,
        {"name": "hook", "config": {"kind": "webhook", "url": hook.url("/mno")}},
    )
    assert status == 201, created
    secret = created["signing_secret"]
    assert secret
    assert len(secret) >= 32
    hook_id = created["channel"]["id"]
    status, listed = await call(launcher, "GET", "/api/v1/alert-channels", admin)
    assert status == 200
    assert [c["name"] for c in listed["channels"]] == ["hook", "ops mail"]
    assert listed["channels"][0]["settings"] == {
        "url": hook.url("/mno"),
        "findings_min_severity": "high",
        "findings_include_unrated": True,
    }
    assert secret not in json.dumps(listed)
    status, result = await call(launcher, "POST", f"/api/v1/alert-channels/{hook_id}/test", admin)
    assert (status, result["ok"], result["response_code"]) == (200, True, 200), result
    [probe] = hook.requests
    assert verify_signature(
        secret, probe.headers[SIGNATURE_HEADER], probe.body, now=int(probe.headers[TIMESTAMP_HEADER])
    )

    # Alerts raised by monitoring code (budgets, anomalies) are delivered by the agent's job.
    store = AlertStore(pool, None)
    assert await store.record_alert(team, alert("k1")) is not None
    assert await store.record_alert(team, alert("k2", AlertKind.SPEND_ANOMALY)) is not None

    async def delivered() -> Any:
        status, page = await call(launcher, "GET", "/api/v1/alerts", admin)
        assert status == 200, page
        sent = [d for e in page["entries"] for d in e["deliveries"] if d["status"] == "sent"]
        return page if len(sent) == 4 else None

    page = await until(delivered)
    assert page is not None, "the delivery job did not deliver both alerts to both channels"
    assert [e["alert"]["dedup_key"] for e in page["entries"]] == ["k2", "k1"]
    assert len(hook.requests) == 3
    for request in hook.requests[1:]:
        timestamp = int(request.headers[TIMESTAMP_HEADER])
        assert verify_signature(secret, request.headers[SIGNATURE_HEADER], request.body, now=timestamp)
    assert len(smtp.handler.received) == 3

    status, first = await call(launcher, "GET", "/api/v1/alerts", admin, params={"limit": "1"})
    assert status == 200
    assert [e["alert"]["dedup_key"] for e in first["entries"]] == ["k2"]
    status, second = await call(
        launcher, "GET", "/api/v1/alerts", admin, params={"limit": "1", "cursor": first["next_cursor"]}
    )
    assert status == 200
    assert [e["alert"]["dedup_key"] for e in second["entries"]] == ["k1"]
    assert second["next_cursor"] is None
    status, filtered = await call(
        launcher, "GET", "/api/v1/alerts", admin, params={"kind": "budget_threshold", "channel_id": hook_id}
    )
    assert [e["alert"]["dedup_key"] for e in filtered["entries"]] == ["k1"]
    status, bad = await call(launcher, "GET", "/api/v1/alerts", admin, params={"cursor": "nonsense"})
    assert (status, bad["error"]["code"]) == (422, "validation_failed")

    status, disabled = await call(
        launcher, "PATCH", f"/api/v1/alert-channels/{hook_id}", admin, {"enabled": False}
    )
    assert (status, disabled["enabled"]) == (200, False)
    status, deleted = await call(launcher, "DELETE", f"/api/v1/alert-channels/{mail_id}", admin)
    assert (status, deleted["id"]) == (200, mail_id)
    status, gone = await call(launcher, "DELETE", f"/api/v1/alert-channels/{mail_id}", admin)
    assert (status, gone["error"]["code"]) == (404, "not_found")
    status, listed = await call(launcher, "GET", "/api/v1/alert-channels", admin)
    assert [(c["name"], c["enabled"]) for c in listed["channels"]] == [("hook", False)]

    status, audit = await call(launcher, "GET", "/api/v1/audit", admin, params={"action": "alert_channels"})
    assert status == 200, audit
    actions = [(e["action"], e["resource_id"]) for e in audit["entries"]]
    assert actions == [
        ("alert_channels.delete", mail_id),
        ("alert_channels.update", hook_id),
        ("alert_channels.test", hook_id),
        ("alert_channels.create", hook_id),
        ("alert_channels.test", mail_id),
        ("alert_channels.create", mail_id),
    ]
    assert secret not in json.dumps(audit)


async def test_bad_channels_are_refused_with_the_reason(
    launcher: MeshLauncher, guarded_pool: asyncpg.Pool
) -> None:
    """A duplicate name is 409; a URL the egress guard refuses (metadata, loopback) is 422 saying why."""
    admin = await ensure_local_admin(guarded_pool)
    body = {"name": "mail", "config": {"kind": "email", "recipients": ["a@example.com"]}}
    assert (await call(launcher, "POST", "/api/v1/alert-channels", admin, body))[0] == 201
    status, answer = await call(launcher, "POST", "/api/v1/alert-channels", admin, body)
    assert (status, answer["error"]["code"]) == (409, "conflict")
    status, answer = await call(
        launcher,
        "POST",
        "/api/v1/alert-channels",
        admin,
        {"name": "meta", "config": {"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data"}},
    )
    assert (status, answer["error"]["code"]) == (422, "validation_failed"), answer
    assert "169.254.169.254" in answer["error"]["message"]
    status, answer = await call(
        launcher,
        "POST",
        "/api/v1/alert-channels",
        admin,
        {"name": "local", "config": {"kind": "slack", "webhook_url": "http://127.0.0.1:9/hook"}},
    )
    assert (status, answer["error"]["code"]) == (422, "validation_failed"), answer
    status, listed = await call(launcher, "GET", "/api/v1/alert-channels", admin)
    assert [c["name"] for c in listed["channels"]] == ["mail"]
