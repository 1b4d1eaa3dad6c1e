"""AlertDispatcher end to end: real PostgreSQL, a real SMTP server and real HTTP receivers."""

from __future__ import annotations

import asyncio
import json
import os

import asyncpg
import pytest
from pydantic import SecretStr

from services.alerts.channels.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from services.alerts.dispatcher import AlertDispatcher, ChannelRejected
from services.alerts.retry import RetryPolicy
from services.alerts.signing import verify_signature
from services.alerts.store import ChannelNameTaken, ChannelSecretsUnavailable
from shared.crypto import SecretBox
from shared.messages.alerts import (
    AlertDeliveryInfo,
    CreateAlertChannel,
    DeliveryStatus,
    EmailChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)
from tests.alerts.conftest import budget_alert, make_dispatcher, new_team
from tests.alerts.receiver import Receiver
from tests.email.smtp_server import SmtpServer


async def add_webhook(
    dispatcher: AlertDispatcher, team: str, hook: Receiver, *, name: str = "hook", secret: str = "s3cret"
) -> str:
    created = await dispatcher.create_channel(
        team,
        CreateAlertChannel(
            name=name, config=WebhookChannelConfig(url=hook.url(f"/{name}"), signing_secret=SecretStr(secret))
        ),
    )
    return created.channel.id


async def add_slack(dispatcher: AlertDispatcher, team: str, slack: Receiver) -> str:
    created = await dispatcher.create_channel(
        team,
        CreateAlertChannel(
            name="slack", config=SlackChannelConfig(webhook_url=SecretStr(slack.url("/slack")))
        ),
    )
    return created.channel.id


async def add_email(dispatcher: AlertDispatcher, team: str, *recipients: str) -> str:
    created = await dispatcher.create_channel(
        team, CreateAlertChannel(name="mail", config=EmailChannelConfig(recipients=list(recipients)))
    )
    return created.channel.id


async def attempts(dispatcher: AlertDispatcher, team: str, channel_id: str) -> list[AlertDeliveryInfo]:
    page = await dispatcher.history(team)
    return [d for entry in page.entries for d in entry.deliveries if d.channel_id == channel_id]


async def test_an_alert_reaches_email_slack_and_webhook(
    dispatcher: AlertDispatcher, smtp: SmtpServer, slack: Receiver, hook: Receiver
) -> None:
    """One raise_alert delivers to every channel kind: the e-mail, Slack's JSON and a signed webhook."""
    team = new_team()
    mail_id = await add_email(dispatcher, team, "ops@example.com", "cfo@example.com")
    slack_id = await add_slack(dispatcher, team, slack)
    hook_id = await add_webhook(dispatcher, team, hook, secret="whsec-1")

    assert await dispatcher.raise_alert(team, budget_alert()) is True

    [mail] = smtp.handler.received
    assert mail.rcpt_tos == ["ops@example.com", "cfo@example.com"]
    assert mail.message["Subject"] == "[WARNING] Budget 'prod' at 80%"
    body = mail.message.get_body(("plain",))
    assert body is not None
    assert "reached $80.00 of the $100.00" in body.get_content()

    [slack_request] = slack.requests
    slack_json = json.loads(slack_request.body)
    assert "Budget 'prod' at 80%" in slack_json["text"]
    assert [block["type"] for block in slack_json["blocks"]] == ["header", "section", "context"]
    assert slack_json["blocks"][1]["text"]["text"].startswith("Team spend reached $80.00")

    [hook_request] = hook.requests
    payload = json.loads(hook_request.body)
    timestamp = int(hook_request.headers[TIMESTAMP_HEADER])
    assert verify_signature(
        "whsec-1", hook_request.headers[SIGNATURE_HEADER], hook_request.body, now=timestamp
    )
    assert not verify_signature(
        "other", hook_request.headers[SIGNATURE_HEADER], hook_request.body, now=timestamp
    )
    assert hook_request.headers[EVENT_ID_HEADER] == payload["id"]
    assert hook_request.headers["Content-Type"] == "application/json"
    assert payload["type"] == "alert.budget_threshold"
    assert payload["team_id"] == team
    assert payload["alert"]["details"] == {"budget_id": "b1", "threshold": 80, "spent_usd": "80.00"}

    page = await dispatcher.history(team)
    [entry] = page.entries
    assert entry.alert.id == payload["id"] == mail.message["X-MNO-Alert-Id"]
    assert {(d.channel_id, d.attempt, d.status) for d in entry.deliveries} == {
        (mail_id, 1, DeliveryStatus.SENT),
        (slack_id, 1, DeliveryStatus.SENT),
        (hook_id, 1, DeliveryStatus.SENT),
    }


async def test_transient_failures_are_retried_until_sent(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """500, 500, then 200: three attempts, recorded as retrying, retrying, sent, with the same event id."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    hook.answer(500, 500, 200)

    await dispatcher.raise_alert(team, budget_alert())

    assert len(hook.requests) == 3
    assert len({r.headers[EVENT_ID_HEADER] for r in hook.requests}) == 1
    history = await attempts(dispatcher, team, hook_id)
    assert [(d.attempt, d.status, d.response_code) for d in history] == [
        (1, DeliveryStatus.RETRYING, 500),
        (2, DeliveryStatus.RETRYING, 500),
        (3, DeliveryStatus.SENT, 200),
    ]
    assert history[0].next_attempt_at is not None
    assert history[0].error is not None
    assert "HTTP 500" in history[0].error


async def test_a_client_error_is_not_retried(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """A 400 is permanent: one attempt, recorded as failed with its code and body."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    hook.answer(400)

    await dispatcher.raise_alert(team, budget_alert())

    assert len(hook.requests) == 1
    [delivery] = await attempts(dispatcher, team, hook_id)
    assert (delivery.status, delivery.response_code, delivery.next_attempt_at) == (
        DeliveryStatus.FAILED,
        400,
        None,
    )
    assert delivery.error == "HTTP 400: error 400"
    assert await dispatcher.deliver_due() == 0


async def test_retry_after_is_waited_for(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """429 with Retry-After: 1 delays the next attempt by about a second, not the policy's milliseconds."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    hook.answer((429, {"Retry-After": "1"}))

    await dispatcher.raise_alert(team, budget_alert())

    first, second = hook.requests
    assert second.at - first.at >= 0.95
    history = await attempts(dispatcher, team, hook_id)
    assert [(d.status, d.response_code) for d in history] == [
        (DeliveryStatus.RETRYING, 429),
        (DeliveryStatus.SENT, 200),
    ]


async def test_a_huge_retry_after_is_bounded(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """Retry-After beyond max_retry_after_seconds is cut to it."""
    policy = RetryPolicy(
        max_attempts=2, base_delay_seconds=0.01, max_delay_seconds=0.01, max_retry_after_seconds=0.2
    )
    dispatcher = make_dispatcher(migrated_pool, box, smtp, policy=policy)
    team = new_team()
    await add_webhook(dispatcher, team, hook)
    hook.answer((503, {"Retry-After": "86400"}))

    await dispatcher.raise_alert(team, budget_alert())

    first, second = hook.requests
    assert 0.15 <= second.at - first.at < 5


async def test_attempts_stop_at_max_attempts(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """A receiver that always fails gets max_attempts attempts; the last is recorded as failed."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    hook.answer(500, 500, 500, 500, 500)

    await dispatcher.raise_alert(team, budget_alert())

    assert len(hook.requests) == 3
    history = await attempts(dispatcher, team, hook_id)
    assert [d.status for d in history] == [
        DeliveryStatus.RETRYING,
        DeliveryStatus.RETRYING,
        DeliveryStatus.FAILED,
    ]
    assert await dispatcher.deliver_due() == 0


async def test_a_failing_channel_does_not_stop_the_others(
    dispatcher: AlertDispatcher, slack: Receiver, hook: Receiver, smtp: SmtpServer
) -> None:
    """A webhook answering 400 and an SMTP relay refusing do not keep Slack from getting the alert."""
    team = new_team()
    await add_webhook(dispatcher, team, hook)
    await add_email(dispatcher, team, "ops@example.com")
    slack_id = await add_slack(dispatcher, team, slack)
    hook.answer(400)
    smtp.handler.data_reply = "554 5.7.1 Rejected"

    await dispatcher.raise_alert(team, budget_alert())

    assert len(slack.requests) == 1
    [entry] = (await dispatcher.history(team)).entries
    statuses = {d.channel_kind.value: d.status for d in entry.deliveries}
    assert statuses == {
        "webhook": DeliveryStatus.FAILED,
        "email": DeliveryStatus.FAILED,
        "slack": DeliveryStatus.SENT,
    }
    assert [d.channel_id for d in entry.deliveries if d.status is DeliveryStatus.SENT] == [slack_id]


async def test_a_dedup_key_is_raised_once(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """The second raise_alert with the same key returns False and sends nothing; another key is sent."""
    team = new_team()
    await add_webhook(dispatcher, team, hook)

    assert await dispatcher.raise_alert(team, budget_alert("budget:b1:2025-01-01:80")) is True
    assert await dispatcher.raise_alert(team, budget_alert("budget:b1:2025-01-01:80")) is False
    assert len(hook.requests) == 1
    assert await dispatcher.raise_alert(team, budget_alert("budget:b1:2025-01-01:100")) is True
    assert len(hook.requests) == 2
    assert len((await dispatcher.history(team)).entries) == 2


async def test_disabled_channels_get_nothing(
    dispatcher: AlertDispatcher, slack: Receiver, hook: Receiver
) -> None:
    """An alert goes to enabled channels only."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    await add_slack(dispatcher, team, slack)
    disabled = await dispatcher.set_channel_enabled(team, hook_id, False)
    assert disabled is not None
    assert disabled.enabled is False

    await dispatcher.raise_alert(team, budget_alert())

    assert hook.requests == []
    assert len(slack.requests) == 1


async def test_deliveries_owed_at_a_crash_are_made_by_deliver_due(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """An alert recorded but never attempted (crash after commit) is delivered by the next deliver_due."""
    dispatcher = make_dispatcher(migrated_pool, box, smtp)
    team = new_team()
    await add_webhook(dispatcher, team, hook)
    record = await dispatcher.store.record_alert(team, budget_alert())  # what raise_alert commits first
    assert record is not None
    assert hook.requests == []

    restarted = make_dispatcher(migrated_pool, box, smtp)
    assert await restarted.deliver_due() == 1

    [request] = hook.requests
    assert request.headers[EVENT_ID_HEADER] == record.id
    assert await restarted.deliver_due() == 0


async def test_an_attempt_cut_short_is_taken_over_after_its_lease(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """A claimed attempt that never reports back is claimed again once its lease runs out, as attempt 2."""
    dispatcher = make_dispatcher(migrated_pool, box, smtp, lease_seconds=0.3)
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    assert await dispatcher.store.record_alert(team, budget_alert()) is not None
    [lost] = await dispatcher.store.claim_due(limit=10, lease_seconds=0.3)  # the worker that died
    assert lost.attempt == 1
    assert await dispatcher.deliver_due() == 0  # still leased

    await asyncio.sleep(0.4)
    assert await dispatcher.deliver_due() == 1

    assert len(hook.requests) == 1
    [delivery] = await attempts(dispatcher, team, hook_id)
    assert (delivery.attempt, delivery.status) == (2, DeliveryStatus.SENT)


async def test_retries_beyond_the_inline_wait_are_left_to_deliver_due(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """With no inline waiting, raise_alert makes one attempt and deliver_due makes the retry when due."""
    dispatcher = make_dispatcher(migrated_pool, box, smtp, max_inline_wait_seconds=0)
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    hook.answer(503)

    await dispatcher.raise_alert(team, budget_alert())
    assert len(hook.requests) == 1

    await asyncio.sleep(0.1)  # past the policy's largest delay
    assert await dispatcher.deliver_due() == 1
    assert len(hook.requests) == 2
    history = await attempts(dispatcher, team, hook_id)
    assert [d.status for d in history] == [DeliveryStatus.RETRYING, DeliveryStatus.SENT]


async def test_test_channel_sends_one_message(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """test_channel sends a signed test message, reports the outcome, and records no alert."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook, secret="k")
    result = await dispatcher.test_channel(team, hook_id)
    assert result is not None
    assert result.ok
    assert result.response_code == 200
    [request] = hook.requests
    assert json.loads(request.body)["type"] == "alert.test"
    assert verify_signature(
        "k", request.headers[SIGNATURE_HEADER], request.body, now=int(request.headers[TIMESTAMP_HEADER])
    )
    assert (await dispatcher.history(team)).entries == []

    hook.answer(410)
    failed = await dispatcher.test_channel(team, hook_id)
    assert failed is not None
    assert not failed.ok
    assert failed.response_code == 410


async def test_channel_urls_are_checked_at_creation(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """With private targets off, webhook and Slack URLs on loopback, private or metadata hosts are refused."""
    dispatcher = make_dispatcher(migrated_pool, box, smtp, allow_private=False)
    team = new_team()
    for url in (
        hook.url(),
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest",
        f"http://localhost:{hook.port}/",
    ):
        with pytest.raises(ChannelRejected, match="not allowed as an alert target"):
            await dispatcher.create_channel(
                team, CreateAlertChannel(name="w", config=WebhookChannelConfig(url=url))
            )
    with pytest.raises(ChannelRejected, match="loopback"):
        await dispatcher.create_channel(
            team,
            CreateAlertChannel(
                name="s", config=SlackChannelConfig(webhook_url=SecretStr("http://[::1]:9/x"))
            ),
        )
    with pytest.raises(ChannelRejected, match="does not resolve"):
        await dispatcher.create_channel(
            team, CreateAlertChannel(name="w", config=WebhookChannelConfig(url="https://alerts.invalid/hook"))
        )
    assert await dispatcher.list_channels(team) == []


async def test_a_target_that_turns_private_is_refused_at_delivery(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """A channel accepted earlier is checked again when delivering: refused, permanent, nothing sent."""
    permissive = make_dispatcher(migrated_pool, box, smtp, allow_private=True)
    team = new_team()
    hook_id = await add_webhook(permissive, team, hook)
    strict = make_dispatcher(migrated_pool, box, smtp, allow_private=False)

    await strict.raise_alert(team, budget_alert())

    assert hook.requests == []
    [delivery] = await attempts(strict, team, hook_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error is not None
    assert "loopback" in delivery.error


async def test_generated_signing_secret_is_shown_once_and_signs(
    dispatcher: AlertDispatcher, hook: Receiver
) -> None:
    """A webhook channel created without a secret gets a generated one, returned once, never listed."""
    team = new_team()
    created = await dispatcher.create_channel(
        team, CreateAlertChannel(name="gen", config=WebhookChannelConfig(url=hook.url()))
    )
    secret = created.signing_secret
    assert secret is not None
    assert len(secret) >= 32
    [listed] = await dispatcher.list_channels(team)
    assert secret not in listed.model_dump_json()
    await dispatcher.raise_alert(team, budget_alert())
    [request] = hook.requests
    assert verify_signature(
        secret, request.headers[SIGNATURE_HEADER], request.body, now=int(request.headers[TIMESTAMP_HEADER])
    )


async def test_channel_secrets_are_stored_sealed(
    dispatcher: AlertDispatcher, migrated_pool: asyncpg.Pool, slack: Receiver, hook: Receiver
) -> None:
    """The Slack URL and the signing secret appear nowhere in the table in clear, and are not listed."""
    team = new_team()
    await add_slack(dispatcher, team, slack)
    await add_webhook(dispatcher, team, hook, secret="very-secret-signing-key")
    rows = await migrated_pool.fetch(
        "SELECT settings::text AS s, sealed_secrets FROM monitoring.alert_channels"
    )
    dump = " ".join(row["s"] + bytes(row["sealed_secrets"]).decode("latin-1") for row in rows)
    assert "/slack" not in dump
    assert "very-secret-signing-key" not in dump
    listed = {c.kind.value: c.settings for c in await dispatcher.list_channels(team)}
    threshold = {"findings_min_severity": "high", "findings_include_unrated": True}
    assert listed == {
        "slack": {"webhook_host": "127.0.0.1", **threshold},
        "webhook": {"url": hook.url("/hook"), **threshold},
    }


async def test_secret_channels_need_a_keyring(
    migrated_pool: asyncpg.Pool, smtp: SmtpServer, hook: Receiver
) -> None:
    """Without auth.encryption_keys, a webhook channel is refused with a clear error; e-mail works."""
    dispatcher = make_dispatcher(migrated_pool, None, smtp)
    team = new_team()
    with pytest.raises(ChannelSecretsUnavailable, match=r"auth\.encryption_keys"):
        await add_webhook(dispatcher, team, hook)
    await add_email(dispatcher, team, "ops@example.com")


async def test_channel_names_are_unique_per_team(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """A second channel of the same name in one team is refused; another team may use the name."""
    team = new_team()
    await add_webhook(dispatcher, team, hook, name="ops")
    with pytest.raises(ChannelNameTaken):
        await add_webhook(dispatcher, team, hook, name="ops")
    await add_webhook(dispatcher, new_team(), hook, name="ops")


async def test_a_deleted_channel_keeps_its_history(dispatcher: AlertDispatcher, hook: Receiver) -> None:
    """Deleting a channel keeps past deliveries (kind and name, without the id) and stops new ones."""
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook, name="old-hook")
    await dispatcher.raise_alert(team, budget_alert("k1"))
    assert await dispatcher.delete_channel(team, hook_id) is True
    await dispatcher.raise_alert(team, budget_alert("k2"))
    assert len(hook.requests) == 1
    page = await dispatcher.history(team)
    deliveries = [d for entry in page.entries for d in entry.deliveries]
    assert [(d.channel_id, d.channel_name, d.status) for d in deliveries] == [
        (None, "old-hook", DeliveryStatus.SENT)
    ]


async def test_an_unopenable_channel_fails_once_instead_of_looping(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """A channel sealed with a key no longer in the keyring is recorded as failed, and not retried."""
    team = new_team()
    hook_id = await add_webhook(make_dispatcher(migrated_pool, box, smtp), team, hook)
    rotated = make_dispatcher(migrated_pool, SecretBox({"k2": os.urandom(32)}, "k2"), smtp)

    assert await rotated.raise_alert(team, budget_alert()) is True

    assert hook.requests == []
    [delivery] = await attempts(rotated, team, hook_id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.error is not None
    assert "cannot be opened" in delivery.error
    assert await rotated.deliver_due() == 0


async def test_an_interrupted_last_attempt_is_given_up(
    migrated_pool: asyncpg.Pool, box: SecretBox, smtp: SmtpServer, hook: Receiver
) -> None:
    """A last allowed attempt claimed and never reported is taken over as a failure, not a send."""
    policy = RetryPolicy(max_attempts=1)
    dispatcher = make_dispatcher(migrated_pool, box, smtp, policy=policy, lease_seconds=0.2)
    team = new_team()
    hook_id = await add_webhook(dispatcher, team, hook)
    assert await dispatcher.store.record_alert(team, budget_alert()) is not None
    assert len(await dispatcher.store.claim_due(limit=10, lease_seconds=0.2)) == 1  # then the worker died

    await asyncio.sleep(0.3)
    assert await dispatcher.deliver_due() == 1

    assert hook.requests == []
    [delivery] = await attempts(dispatcher, team, hook_id)
    assert (delivery.attempt, delivery.status) == (2, DeliveryStatus.FAILED)
    assert delivery.error == "given up: the last attempt was interrupted"
