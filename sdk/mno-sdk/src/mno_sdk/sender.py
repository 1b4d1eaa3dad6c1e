"""The sender thread's work: take due batches from the buffer and deliver each, retrying what may
succeed later, splitting what is too large, and stopping for good on a plan limit (402)."""

from __future__ import annotations

import http.client
import logging
import random
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mno_sdk.buffer import Buffer
from mno_sdk.errors import MnoApiError
from mno_sdk.protocol import Action, Outcome, backoff_delay, classify, encode_batch
from mno_sdk.stats import Counters, Rejection
from mno_sdk.transport import Transport

log = logging.getLogger("mno_sdk")

Event = Mapping[str, Any]
ErrorCallback = Callable[[MnoApiError], None]


class Sender:
    def __init__(
        self,
        transport: Transport,
        buffer: Buffer[Event],
        counters: Counters,
        *,
        batch_size: int,
        flush_interval: float,
        max_retries: int,
        backoff_base: float,
        backoff_max: float,
        max_retry_after: float,
        on_error: ErrorCallback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self._buffer = buffer
        self._counters = counters
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._on_error = on_error
        self._rng = rng or random.Random()
        self._abort = threading.Event()

    def abort(self) -> None:
        """Stop waiting between retries: the batch in hand fails and the rest of the queue too."""
        self._abort.set()

    def run(self) -> None:
        try:
            while True:
                batch = self._buffer.take(self._batch_size, self._flush_interval)
                if not batch:
                    return
                try:
                    self._deliver(batch)
                except Exception:  # a bug here must not kill the thread and strand every later event
                    log.exception("mno_sdk: unexpected error delivering %d token events", len(batch))
                    self._counters.add("failed", len(batch))
                finally:
                    self._buffer.done(len(batch))
        finally:
            self._transport.close()

    def _deliver(self, batch: Sequence[Event]) -> None:
        if self._counters.halted or self._abort.is_set():
            self._counters.add("failed", len(batch))
            return
        outcome = self._send_with_retries(batch)
        if outcome.action is Action.DONE and outcome.result is not None:
            self._accepted(batch, outcome)
        elif outcome.action is Action.SPLIT and len(batch) > 1:
            half = len(batch) // 2
            log.info("mno_sdk: batch of %d events too large, sending it in two halves", len(batch))
            self._deliver(batch[:half])
            self._deliver(batch[half:])
        else:
            self._failed(batch, outcome)

    def _accepted(self, batch: Sequence[Event], outcome: Outcome) -> None:
        assert outcome.result is not None
        result = outcome.result
        # Duplicates reached the server before (e.g. a retry after a lost answer): they are sent too.
        self._counters.add("sent", result.accepted + result.duplicates)
        self._counters.add("duplicates", result.duplicates)
        for rejection in result.errors:
            event_id = rejection.id
            if event_id is None and 0 <= rejection.index < len(batch):
                event_id = batch[rejection.index].get("id")
            self._counters.reject(Rejection(event_id=event_id, errors=tuple(rejection.errors)))
        if result.errors:
            log.warning(
                "mno_sdk: server rejected %d of %d token events, first: %s",
                len(result.errors),
                len(batch),
                result.errors[0].errors,
            )

    def _failed(self, batch: Sequence[Event], outcome: Outcome) -> None:
        self._counters.add("failed", len(batch))
        error = outcome.error
        if error is None:
            return
        halt = outcome.action is Action.HALT
        self._counters.error(error, halt=halt)
        if halt:
            log.error("mno_sdk: stopped sending token events: %s", error)
        else:
            log.error("mno_sdk: %d token events not delivered: %s", len(batch), error)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                log.exception("mno_sdk: on_error callback failed")

    def _send_with_retries(self, batch: Sequence[Event]) -> Outcome:
        body = encode_batch(batch)
        attempt = 0
        while True:
            request_id = uuid.uuid4().hex
            outcome = self._send_once(body, request_id)
            if outcome.action is not Action.RETRY:
                return outcome
            if attempt >= self._max_retries:
                log.warning("mno_sdk: giving up on %d events after %d retries", len(batch), attempt)
                return Outcome(Action.FAIL, error=outcome.error)
            delay = backoff_delay(attempt, self._backoff_base, self._backoff_max, self._rng)
            if outcome.retry_after is not None:
                delay = min(self._max_retry_after, outcome.retry_after)
            log.info(
                "mno_sdk: retrying %d events in %.2fs (%s)",
                len(batch),
                delay,
                outcome.error or "no answer",
            )
            if self._abort.wait(delay):
                return Outcome(Action.FAIL, error=outcome.error)
            attempt += 1
            self._counters.add("retries")

    def _send_once(self, body: bytes, request_id: str) -> Outcome:
        try:
            answer = self._transport.post(body, request_id)
        except ssl.SSLCertVerificationError as exc:  # a wrong certificate stays wrong: no retry
            error = MnoApiError(0, "tls_error", f"{type(exc).__name__}: {exc}", request_id=request_id)
            return Outcome(Action.FAIL, error=error)
        except (OSError, http.client.HTTPException) as exc:
            error = MnoApiError(0, "connection_error", f"{type(exc).__name__}: {exc}", request_id=request_id)
            return Outcome(Action.RETRY, error=error)
        return classify(
            answer.status,
            answer.body,
            retry_after=answer.retry_after,
            request_id=answer.request_id or request_id,
        )
