"""`AlertDispatcher`: raise alerts once, deliver them to every enabled channel of the team with
retries, keep the history, and manage the team's channels (checked when they are created).

Delivery is at least once per channel. `raise_alert` commits the alert and what it owes each
channel before the first attempt, and every attempt is a lease on that row (`AlertStore`), so an
attempt cut short by a crash is taken up again by `deliver_due`, which the agent calls
periodically (every few seconds). Receivers can drop duplicates by the alert id
(`X-MNO-Event-Id` on webhooks, `X-MNO-Alert-Id` on e-mails).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import structlog

from services.alerts.channels import AlertChannel, ChannelDependencies, build_channel
from services.alerts.egress import EgressLookupFailed, EgressRefused, vet_url
from services.alerts.http import HttpPoster
from services.alerts.models import ClaimedDispatch, StoredChannel
from services.alerts.outcome import DeliveryOutcome, OutcomeKind
from services.alerts.retry import RetryPolicy
from services.alerts.store import AlertStore, ChannelSecretsUnavailable
from shared.config.models import Settings
from shared.crypto import SecretBox, SecretBoxError
from shared.email import EmailSender
from shared.messages.alerts import (
    FINDINGS_THRESHOLD_SETTING,
    FINDINGS_UNRATED_SETTING,
    Alert,
    AlertChannelInfo,
    AlertHistoryFilters,
    AlertHistoryPage,
    AlertKind,
    AlertRecord,
    AlertSeverity,
    ChannelKind,
    ChannelTestResult,
    CreateAlertChannel,
    CreatedAlertChannel,
    DeliveryStatus,
    EmailChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)

__all__ = ["AlertDispatcher", "ChannelRejected"]

log = structlog.get_logger("mno.alerts")


class ChannelRejected(Exception):
    """A channel cannot be created as asked; the message is meant for the user."""


class AlertDispatcher:
    def __init__(
        self,
        store: AlertStore,
        deps: ChannelDependencies,
        policy: RetryPolicy,
        *,
        allow_private_targets: bool,
        lease_seconds: float = 120.0,
        max_inline_wait_seconds: float = 10.0,
        channel_builder: Callable[[StoredChannel, ChannelDependencies], AlertChannel] = build_channel,
    ) -> None:
        """`lease_seconds` must exceed the longest attempt (HTTP and SMTP timeouts): a lease that
        runs out mid-attempt lets another worker send the same alert again. Retries due within
        `max_inline_wait_seconds` are waited for inside `raise_alert`; later ones are left to
        `deliver_due`."""
        self._store = store
        self._deps = deps
        self._policy = policy
        self._allow_private = allow_private_targets
        self._lease = lease_seconds
        self._max_inline_wait = max_inline_wait_seconds
        self._build = channel_builder

    @classmethod
    def from_settings(cls, pool: Any, settings: Settings, box: SecretBox | None) -> AlertDispatcher:
        """The dispatcher the MonitoringAgent runs, from the `email` and `alerts` sections."""
        allow_private = settings.alerts.allow_private_targets
        http = HttpPoster(allow_private=allow_private)
        deps = ChannelDependencies(email=EmailSender(settings.email), http=http)
        # The lease covers the slowest possible attempt with room to spare.
        lease = 2 * max(http.timeout_seconds, settings.email.timeout_seconds) + 30
        return cls(
            AlertStore(pool, box),
            deps,
            RetryPolicy(max_attempts=settings.alerts.max_attempts),
            allow_private_targets=allow_private,
            lease_seconds=lease,
        )

    @property
    def store(self) -> AlertStore:
        return self._store

    # --- channels -----------------------------------------------------------------------------------

    async def create_channel(self, team_id: str, request: CreateAlertChannel) -> CreatedAlertChannel:
        """Check the channel (its URL must pass the egress guard now) and store it; `ChannelRejected`
        with the reason otherwise, `ChannelNameTaken` if the name is in use."""
        config = request.config
        generated: str | None = None
        settings: dict[str, Any]
        channel_secrets: dict[str, str]
        if isinstance(config, EmailChannelConfig):
            if not self._deps.email.enabled:
                raise ChannelRejected("e-mail is not enabled on this installation (email.enabled)")
            settings, channel_secrets = {"recipients": list(dict.fromkeys(config.recipients))}, {}
        elif isinstance(config, SlackChannelConfig):
            url = config.webhook_url.get_secret_value()
            target = await self._vet(url)
            settings, channel_secrets = {"webhook_host": target}, {"webhook_url": url}
        elif isinstance(config, WebhookChannelConfig):
            await self._vet(config.url)
            if config.signing_secret is not None:
                secret = config.signing_secret.get_secret_value()
            else:
                secret = generated = secrets.token_urlsafe(32)
            settings, channel_secrets = {"url": config.url}, {"signing_secret": secret}
        else:  # pragma: no cover - the discriminated union has no other member
            raise ChannelRejected(f"unknown channel kind {config.kind!r}")
        settings[FINDINGS_THRESHOLD_SETTING] = request.findings_min_severity
        settings[FINDINGS_UNRATED_SETTING] = request.findings_include_unrated
        stored = await self._store.create_channel(
            team_id,
            name=request.name,
            kind=ChannelKind(config.kind),
            settings=settings,
            secrets=channel_secrets,
            enabled=request.enabled,
        )
        return CreatedAlertChannel(channel=stored.info(), signing_secret=generated)

    async def _vet(self, url: str) -> str:
        try:
            target = await vet_url(url, allow_private=self._allow_private)
        except (EgressRefused, EgressLookupFailed) as error:
            raise ChannelRejected(str(error)) from None
        return target.host

    async def list_channels(self, team_id: str) -> list[AlertChannelInfo]:
        return await self._store.list_channels(team_id)

    async def set_channel_enabled(
        self, team_id: str, channel_id: str, enabled: bool
    ) -> AlertChannelInfo | None:
        return await self._store.set_channel_enabled(team_id, channel_id, enabled)

    async def delete_channel(self, team_id: str, channel_id: str) -> bool:
        return await self._store.delete_channel(team_id, channel_id)

    async def test_channel(self, team_id: str, channel_id: str) -> ChannelTestResult | None:
        """Send a test message to one of the team's channels (one attempt, not recorded); None if
        the team has no such channel."""
        channel = await self._store.channel(team_id, channel_id)
        if channel is None:
            return None
        probe = AlertRecord(
            id=str(uuid.uuid4()),
            team_id=channel.team_id,
            kind=AlertKind.TEST,
            severity=AlertSeverity.INFO,
            title=f"Test message for alert channel {channel.name!r}",
            text="This is a test from MachineNativeOps: alerts will arrive here.",
            details={},
            dedup_key=f"test:{uuid.uuid4()}",
            raised_at=datetime.now(UTC),
        )
        outcome = await self._attempt(channel, probe)
        return ChannelTestResult(
            channel_id=channel.id, ok=outcome.ok, response_code=outcome.response_code, error=outcome.error
        )

    # --- alerts -------------------------------------------------------------------------------------

    async def raise_alert(
        self, team_id: str, alert: Alert, *, channel_ids: Collection[str] | None = None
    ) -> bool:
        """Record the alert and deliver it to every enabled channel of the team (or of `channel_ids`
        only); False (and nothing sent) if the team already raised an alert with this dedup key."""
        record = await self._store.record_alert(team_id, alert, channel_ids=channel_ids)
        if record is None:
            return False
        claims = await self._store.claim_alert(team_id, record.id, lease_seconds=self._lease)
        await self._run_all(claims)
        return True

    async def deliver_due(self, limit: int = 100) -> int:
        """Make the attempts whose time has come (retries, and attempts cut short by a crash);
        returns how many deliveries were taken up."""
        claims = await self._store.claim_due(limit=limit, lease_seconds=self._lease)
        await self._run_all(claims)
        return len(claims)

    async def history(
        self,
        team_id: str,
        filters: AlertHistoryFilters | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AlertHistoryPage:
        return await self._store.history(team_id, filters or AlertHistoryFilters(), limit, cursor)

    async def _run_all(self, claims: list[ClaimedDispatch]) -> None:
        # Channels are independent: one slow or failing channel must not hold up or stop the others.
        results = await asyncio.gather(*(self._run(claim) for claim in claims), return_exceptions=True)
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            if isinstance(result, Exception):
                log.error(
                    "alert delivery failed unexpectedly",
                    alert_id=claim.alert.id,
                    channel_id=claim.channel_id,
                    error=repr(result),
                )

    async def _run(self, claim: ClaimedDispatch | None) -> None:
        """Attempt a delivery, then its retries as long as they are due soon enough to wait for."""
        while claim is not None:
            started_at = datetime.now(UTC)
            channel: StoredChannel | AlertChannelInfo | None
            unreadable: str | None = None
            try:
                channel = await self._store.channel(claim.alert.team_id, claim.channel_id)
            except (SecretBoxError, ChannelSecretsUnavailable) as error:
                # Its key was dropped from auth.encryption_keys: no retry can open it.
                channel = await self._store.channel_info(claim.alert.team_id, claim.channel_id)
                unreadable = f"the channel's secrets cannot be opened: {error}"
            if channel is None:
                await self._store.drop_dispatch(claim)
                return
            if unreadable is not None or not isinstance(channel, StoredChannel):
                outcome = DeliveryOutcome.permanent(unreadable or "the channel's secrets cannot be opened")
            elif claim.attempt > self._policy.max_attempts:
                # The last allowed attempt was claimed and never reported back (a crash).
                outcome = DeliveryOutcome.permanent("given up: the last attempt was interrupted")
            elif not channel.enabled:
                outcome = DeliveryOutcome.permanent("the channel was disabled")
            else:
                outcome = await self._attempt(channel, claim.alert)
            delay: float | None = None
            if outcome.kind is OutcomeKind.TRANSIENT and self._policy.can_retry(claim.attempt):
                delay = self._policy.delay(claim.attempt, outcome.retry_after_seconds)
            status = await self._store.record_attempt(
                claim, channel, started_at=started_at, outcome=outcome, retry_in_seconds=delay
            )
            log.info(
                "alert delivery attempt",
                team_id=claim.alert.team_id,
                alert_id=claim.alert.id,
                channel_id=claim.channel_id,
                attempt=claim.attempt,
                status=status.value,
                response_code=outcome.response_code,
                error=outcome.error,
            )
            if status is not DeliveryStatus.RETRYING or delay is None or delay > self._max_inline_wait:
                return
            await asyncio.sleep(delay)
            claim = await self._store.claim_next(claim, lease_seconds=self._lease)

    async def _attempt(self, channel: StoredChannel, alert: AlertRecord) -> DeliveryOutcome:
        try:
            return await self._build(channel, self._deps).deliver(alert)
        except Exception as error:  # a channel bug must become a recorded failure, not a lost alert
            log.exception("alert channel raised", channel_id=channel.id, kind=channel.kind.value)
            return DeliveryOutcome.transient(f"internal error: {type(error).__name__}: {error}")
