"""Vulnerability findings reach the team's alert channels: the edge, the SupplyChainAgent and the
MonitoringAgent as processes (real NATS, PostgreSQL), a webhook receiver, a local HTTP server standing
in for Slack's incoming webhook and an SMTP server (aiosmtpd); each channel's `findings_min_severity`
and `findings_include_unrated` decide, a redelivered event alerts no one twice, and another team's
channels hear nothing of it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest

from shared.bus.events import consumer_name
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.registry import FINDINGS_CHANGED
from tests.alerts.receiver import Receiver, Request, receiver
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.fixtures.mesh import MeshLauncher
from tests.supply_chain.mesh_support import Env, Team, call, import_archive, osv_archive, team

HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


@pytest.fixture
async def env(launcher: MeshLauncher, smtp: SmtpServer) -> AsyncIterator[Env]:
    """Edge, MonitoringAgent (e-mail on, private targets allowed) and SupplyChainAgent of the test's own."""
    key = base64.b64encode(os.urandom(32)).decode()
    launcher.overrides = {
        "email": smtp.settings().model_dump(mode="json", exclude_none=True),
        "alerts": {"allow_private_targets": True},
        "auth": {"encryption_keys": [f"k1:{key}"]},
    }
    await asyncio.gather(
        *(
            asyncio.to_thread(launcher.start, agent)
            for agent in (AgentName.SUPER_AGENT, AgentName.MONITORING, AgentName.SUPPLY_CHAIN)
        )
    )
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=2, command_timeout=30)
    try:
        yield Env(launcher.edge_url, pool, launcher.nats_url, launcher)
    finally:
        await pool.close()


@pytest.fixture
async def slack() -> AsyncIterator[Receiver]:
    async with receiver() as server:
        yield server


def advisory(advisory_id: str, vector: str | None) -> dict[str, Any]:
    """An advisory of acme-widgets < 1.5, scored by `vector`; None: no severity at all (unrated)."""
    modified = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": modified.isoformat().replace("+00:00", "Z"),
        "summary": "acme-widgets parses hostile input",
        "severity": [{"type": "CVSS_V3", "score": vector}] if vector else [],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "acme-widgets"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]}],
            }
        ],
    }


async def until(what: str, check: Any, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def alerts_of(hook: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body)["alert"] for r in hook.requests]


async def test_findings_alert_channels_at_their_threshold_once_per_event(
    env: Env, smtp: SmtpServer, hook: Receiver
) -> None:
    """A high finding alerts the `high` webhook and not the `critical` e-mail channel; a critical one
    alerts both; the same event delivered again (another stream message, same envelope) alerts no one."""
    owner = await team(env)
    for name, config, threshold in (
        ("hook", {"kind": "webhook", "url": hook.url("/findings")}, "high"),
        ("mail", {"kind": "email", "recipients": ["sec@example.com"]}, "critical"),
    ):
        status, created = await call(
            env,
            "POST",
            "/api/v1/alert-channels",
            owner.headers,
            json_body={"name": name, "config": config, "findings_min_severity": threshold},
        )
        assert status == 201, created
        assert created["channel"]["settings"]["findings_min_severity"] == threshold
    status, bad = await call(
        env,
        "POST",
        "/api/v1/alert-channels",
        owner.headers,
        json_body={
            "name": "x",
            "config": {"kind": "webhook", "url": hook.url()},
            "findings_min_severity": "x",
        },
    )
    assert status == 422, bad

    await import_archive(env, osv_archive(advisory("TEST-HIGH-1", HIGH)), "test")
    status, scanned = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=b"acme-widgets==1.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, scanned
    await until("the high finding's webhook", lambda: len(hook.requests) >= 1)
    [first] = alerts_of(hook)
    assert first["kind"] == "supply_chain_findings"
    assert first["details"]["highest_rating"] == "high"
    assert first["details"]["advisory_ids"] == ["TEST-HIGH-1"]
    assert first["details"]["cause"] == "sbom_scanned"

    # The same event again, as JetStream redelivers after a crash: a new stream message, same envelope.
    client = await nats.connect(env.nats_url)
    try:
        js = client.jetstream()
        stored = await js.get_last_msg("MNO_EVENTS", FINDINGS_CHANGED.subject)
        headers = {**(stored.headers or {}), "Nats-Msg-Id": "redelivered-" + str(stored.seq)}
        again = await js.publish(FINDINGS_CHANGED.subject, stored.data or b"", headers=headers)
        durable = consumer_name(AgentName.MONITORING, FINDINGS_CHANGED)

        async def handled() -> bool:
            info = await js.consumer_info("MNO_EVENTS", durable)
            return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= again.seq

        deadline = asyncio.get_running_loop().time() + 60
        while not await handled():
            assert asyncio.get_running_loop().time() < deadline, "the redelivered event was not handled"
            await asyncio.sleep(0.2)
    finally:
        await client.close()

    await import_archive(env, osv_archive(advisory("TEST-CRIT-1", CRITICAL)), "test")
    await until("the critical finding's webhook", lambda: len(hook.requests) >= 2)
    await until("the critical finding's e-mail", lambda: len(smtp.handler.received) >= 1)
    second = alerts_of(hook)[1]
    assert (second["details"]["highest_rating"], second["details"]["cause"]) == (
        "critical",
        "advisory_import",
    )
    assert second["severity"] == "critical"
    [mail] = smtp.handler.received
    assert mail.rcpt_tos == ["sec@example.com"]
    assert "critical" in mail.message["Subject"]

    status, history = await call(
        env, "GET", "/api/v1/alerts", owner.headers, params={"kind": "supply_chain_findings"}
    )
    assert status == 200, history
    assert len(history["entries"]) == 2
    assert len(hook.requests) == 2


async def add_channel(env: Env, who: Team, name: str, config: dict[str, Any], **settings: Any) -> str:
    status, created = await call(
        env,
        "POST",
        "/api/v1/alert-channels",
        who.headers,
        json_body={"name": name, "config": config, **settings},
    )
    assert status == 201, created
    channel_id: str = created["channel"]["id"]
    return channel_id


def slack_message(request: Request) -> dict[str, Any]:
    """The body of a request to Slack's incoming webhook, checked against the shape Slack documents for
    it (docs.slack.dev, "Sending messages using incoming webhooks" and the Block Kit reference): a JSON
    object with `text` (the notification and fallback text, required without `blocks`) and/or `blocks`
    (at most 50 layout blocks: `header` with plain_text of at most 150 characters, `section` with text of
    at most 3000, `context` with at most 10 elements), sent as application/json."""
    assert request.headers["Content-Type"].startswith("application/json"), request.headers
    message = json.loads(request.body)
    assert isinstance(message, dict)
    assert set(message) <= {"text", "blocks", "mrkdwn", "thread_ts"}, message.keys()
    assert message.get("text") or message.get("blocks"), message
    if "text" in message:
        assert isinstance(message["text"], str)
        assert message["text"].strip()
    blocks = message.get("blocks", [])
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert block["text"]["type"] in {"plain_text", "mrkdwn"}
            assert 0 < len(block["text"]["text"]) <= 3000
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] in {"plain_text", "mrkdwn", "image"}
        else:
            raise AssertionError(f"unexpected block type {kind!r}")
    return message


async def test_unrated_findings_alert_through_slack_and_other_teams_stay_silent(
    env: Env, smtp: SmtpServer, hook: Receiver, slack: Receiver
) -> None:
    """An advisory without a severity alerts a Slack channel left at its defaults (threshold high) with a
    message saying "unrated", in the shape Slack takes, and not an e-mail channel that opted out
    (`findings_include_unrated: false`), which a rated finding reaches all the same; another team's
    channel, at the lowest threshold, hears nothing of it until that team has findings of its own."""
    ours = await team(env)
    theirs = await team(env)
    slack_id = await add_channel(
        env, ours, "slack", {"kind": "slack", "webhook_url": slack.url("/services/T0/B0/secret")}
    )
    mail_id = await add_channel(
        env,
        ours,
        "mail",
        {"kind": "email", "recipients": ["sec@example.com"]},
        findings_min_severity="low",
        findings_include_unrated=False,
    )
    await add_channel(
        env, theirs, "theirs", {"kind": "webhook", "url": hook.url("/theirs")}, findings_min_severity="low"
    )
    status, listed = await call(env, "GET", "/api/v1/alert-channels", ours.headers)
    assert status == 200, listed
    assert {c["name"]: c["settings"]["findings_include_unrated"] for c in listed["channels"]} == {
        "slack": True,
        "mail": False,
    }

    await import_archive(env, osv_archive(advisory("TEST-UNRATED-1", None)), "test")
    status, scanned = await call(
        env,
        "POST",
        "/api/v1/sboms",
        ours.headers,
        body=b"acme-widgets==1.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, scanned
    [finding] = scanned["findings"]
    assert finding["severity"]["rating"] is None
    await until("the unrated finding's Slack message", lambda: len(slack.requests) >= 1)
    [request] = slack.requests
    assert request.path == "/services/T0/B0/secret"
    message = slack_message(request)
    assert "unrated" in message["text"]
    assert "TEST-UNRATED-1" in message["text"]
    assert any("unrated" in b["text"]["text"] for b in message["blocks"] if b["type"] == "header")

    # A rated finding (medium) reaches the e-mail channel (threshold low) and not Slack (high).
    await import_archive(env, osv_archive(advisory("TEST-MEDIUM-1", MEDIUM)), "test")
    await until("the medium finding's e-mail", lambda: len(smtp.handler.received) >= 1)
    [mail] = smtp.handler.received
    assert "medium" in mail.message["Subject"]
    assert "unrated" not in mail.message["Subject"]

    status, history = await call(
        env, "GET", "/api/v1/alerts", ours.headers, params={"kind": "supply_chain_findings"}
    )
    assert status == 200, history
    delivered = {
        (entry["alert"]["details"]["highest_rating"], entry["alert"]["details"]["unrated"]): [
            d["channel_id"] for d in entry["deliveries"]
        ]
        for entry in history["entries"]
    }
    assert delivered == {(None, 1): [slack_id], ("medium", 0): [mail_id]}
    assert len(slack.requests) == 1
    assert hook.requests == [], "another team's channel heard of this team's findings"

    # Their own findings do reach their channel: the silence above was not a broken channel.
    status, own = await call(
        env,
        "POST",
        "/api/v1/sboms",
        theirs.headers,
        body=b"acme-widgets==1.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, own
    await until("their own finding's webhook", lambda: len(hook.requests) >= 1)
    assert json.loads(hook.requests[0].body)["team_id"] == theirs.team_id
    [alert] = alerts_of(hook)
    assert alert["details"]["sbom_ids"] == [own["sbom"]["id"]]
    assert (alert["details"]["highest_rating"], alert["details"]["unrated"]) == ("medium", 1)
    assert alert["title"].endswith("(up to medium; 1 unrated)")
    assert len(slack.requests) == 1
    assert len(smtp.handler.received) == 1
