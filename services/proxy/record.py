"""Recording proxied calls: their usage becomes token events through the same ingest path as
`POST /api/v1/token-events` (validation, the plan's monthly limit, budget admission, JetStream).

The call has happened by then, so nothing here can fail it: a refusal (plan limit, a budget that
filled while the call ran) or an answer without usage is logged and counted by reason
(`mno_proxy_unrecorded_total`), never turned into an error for the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from services.ingest import intake
from services.proxy.metrics import PROXY_CALLS_TOTAL, PROXY_UNRECORDED_TOTAL
from services.proxy.usage import Observed, Provider
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, BusError
from shared.messages.envelope import ErrorCode

log = structlog.get_logger("mno.proxy")

TAG_VIA = {"via": "proxy"}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the proxy knows of the call besides its answer."""

    provider: Provider
    requested_model: str | None
    started_at: datetime
    latency_ms: float
    project: str | None
    user: str | None


def token_event(facts: CallFacts, observed: Observed) -> dict[str, Any] | None:
    """The event as the JSON API takes it; None when the answer said nothing of usage. The
    provider's response id goes in `request_id` (one call, however many ways it is reported)."""
    usage = observed.usage
    model = observed.model or facts.requested_model
    if usage is None or model is None:
        return None
    event: dict[str, Any] = {
        "provider": facts.provider.value,
        "model": model,
        "timestamp": facts.started_at.isoformat(),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "latency_ms": round(facts.latency_ms, 3),
        "tags": dict(TAG_VIA),
    }
    optional = {"project": facts.project, "user": facts.user, "request_id": observed.response_id}
    event.update({name: value for name, value in optional.items() if value})
    return event


_REASON_OF_CODE = {
    ErrorCode.PAYMENT_REQUIRED: "plan_limit",
    ErrorCode.RATE_LIMITED: "budget",
    ErrorCode.VALIDATION_FAILED: "rejected",
    # The publish was not confirmed: the call may be stored after all (counted apart, not "rejected").
    ErrorCode.OUTCOME_UNKNOWN: "outcome_unknown",
}


async def record_batch(
    target: intake.Intake, ctx: MessageContext, providers: list[str], events: list[dict[str, Any]]
) -> None:
    """Store calls of one caller together (one plan count, one admission, one publish); each call
    not stored is logged and counted with its own reason."""
    try:
        result = await intake.ingest(target, ctx, events)
    except AgentError as error:
        reason = _REASON_OF_CODE.get(error.body.code, "rejected")
        for provider in providers:
            _unrecorded(provider, reason, error.body.message)
        return
    except BusError as error:
        for provider in providers:
            _unrecorded(provider, "unavailable", error.body.message)
        return
    failed = {rejection.index: rejection for rejection in result.errors}
    for index, provider in enumerate(providers):
        rejection = failed.get(index)
        if rejection is None:
            PROXY_CALLS_TOTAL.labels(provider, "recorded").inc()
            continue
        budget = any(error.get("loc") == "budget" for error in rejection.errors)
        _unrecorded(provider, "budget" if budget else "rejected", str(rejection.errors))


def _unrecorded(provider: str, reason: str, why: str) -> None:
    PROXY_UNRECORDED_TOTAL.labels(provider, reason).inc()
    PROXY_CALLS_TOTAL.labels(provider, "unrecorded").inc()
    log.warning("proxied call not recorded", provider=provider, reason=reason, why=why)


@dataclass
class _Batch:
    target: intake.Intake
    ctx: MessageContext
    providers: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class Recorder:
    """Records calls after their answers, off the request's path and in batches.

    The handler returns as soon as the caller has its answer (its connection is free for the next
    call), and the events of one caller (team, key, user) answered within `window` seconds go to
    ingest together: one ingest per call took several times the CPU of the forwarding itself. The
    batch carries the first call's context (its correlation id). At most `max_in_flight` batches are
    stored at once; past that a handler waits for its batch (the edge slows down rather than holding
    unbounded work). `drain` stores what is waiting, at shutdown.
    """

    def __init__(self, window: float = 0.05, max_batch: int = 250, max_in_flight: int = 64) -> None:
        self._window = window
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._open: dict[tuple[str | None, str | None, str | None], _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(
        self, target: intake.Intake, ctx: MessageContext, facts: CallFacts, observed: Observed
    ) -> None:
        event = token_event(facts, observed)
        if event is None:
            if observed.problem is not None:
                _unrecorded(facts.provider.value, "invalid_usage", observed.problem)
            else:
                _unrecorded(facts.provider.value, "no_usage", "the provider's answer carried no usage")
            return
        principal = ctx.principal
        key = (principal.team_id, principal.api_key_id, principal.user_id)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(target, ctx)
            self._spawn(self._flush_later(key, batch))
        batch.providers.append(facts.provider.value)
        batch.events.append(event)
        if len(batch.events) >= self._max_batch:
            self._close(key, batch)
            self._spawn(record_batch(batch.target, batch.ctx, batch.providers, batch.events))
        if len(self._tasks) > self._max_in_flight:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    async def _flush_later(self, key: tuple[str | None, str | None, str | None], batch: _Batch) -> None:
        await asyncio.sleep(self._window)
        if self._close(key, batch):
            await record_batch(batch.target, batch.ctx, batch.providers, batch.events)

    def _close(self, key: tuple[str | None, str | None, str | None], batch: _Batch) -> bool:
        """Stop adding to `batch`; False when it was closed already (flushed for being full)."""
        if self._open.get(key) is batch:
            del self._open[key]
            return True
        return False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
