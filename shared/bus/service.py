"""An agent's request/reply endpoints, registered as one NATS micro service.

The micro service answers `$SRV.PING/INFO/STATS`; each endpoint subscribes in a queue group so
replicas share the load. Each request is handled in its own task: a NATS subscription delivers
messages one at a time, and a slow handler must not hold up the others.

Each endpoint has its own bound of `max_concurrency` requests in flight (a bulkhead): when one kind
of request is slow (cost reports waiting for ClickHouse), the others (the ingest path's budget
admission, budget lists) still find a free slot instead of queueing behind it. A request that waited
for a slot longer than its requester waits (`TIMEOUT_HEADER`) is dropped unhandled: nobody would read
the answer, and doing the work anyway is how an overloaded agent falls further behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, EndpointStats, Service, ServiceConfig
from pydantic import BaseModel

from shared.bus.codec import (
    DecodeError,
    context_from,
    decode_envelope,
    decode_payload,
    encode,
    envelope_for,
    error_envelope,
    headers_for,
)
from shared.bus.context import TIMEOUT_HEADER, MessageContext
from shared.bus.errors import AgentError, BusError
from shared.db.data_errors import refused_value, store_unavailable
from shared.messages.agents import AgentName
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.registry import Endpoint
from shared.metrics import RPC_EXPIRED, RPC_HANDLER_SECONDS, RPC_IN_FLIGHT

RequestT = TypeVar("RequestT", bound=BaseModel)
ResponseT = TypeVar("ResponseT", bound=BaseModel)
Handler = Callable[[RequestT, MessageContext], Awaitable[ResponseT]]

log = structlog.get_logger("mno.bus.service")


@dataclass
class EndpointCounters:
    """Our own per-endpoint figures, shown in `$SRV.STATS` under `data`: the micro library times only
    the hand-off to a task, not the handling itself."""

    handled: int = 0
    errors: int = 0
    processing_ns: int = 0

    def as_stats(self) -> dict[str, int]:
        average = self.processing_ns // self.handled if self.handled else 0
        return {
            "handled": self.handled,
            "errors": self.errors,
            "processing_ns": self.processing_ns,
            "average_processing_ns": average,
        }


class AgentService:
    def __init__(
        self,
        nc: NATS,
        agent: AgentName,
        *,
        version: str,
        instance_id: str,
        max_concurrency: int,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._nc = nc
        self.agent = agent
        self.version = version
        self.instance_id = instance_id
        self._metadata = metadata or {}
        self._max_concurrency = max_concurrency
        self._limits: dict[str, asyncio.Semaphore] = {}  # per endpoint name
        self._routes: list[tuple[Endpoint[Any, Any], Handler[Any, Any]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._service: Service | None = None
        self._counters: dict[str, EndpointCounters] = {}

    def add(self, endpoint: Endpoint[RequestT, ResponseT], handler: Handler[RequestT, ResponseT]) -> None:
        if endpoint.agent != self.agent:
            raise ValueError(f"{endpoint.subject} belongs to {endpoint.agent}, not {self.agent}")
        self._routes.append((endpoint, handler))
        self._limits[endpoint.name] = asyncio.Semaphore(self._max_concurrency)

    @property
    def subjects(self) -> list[str]:
        return [endpoint.subject for endpoint, _ in self._routes]

    async def start(self) -> None:
        self._service = await add_service(
            self._nc,
            ServiceConfig(
                name=self.agent.service_name,
                version=self.version,
                description=f"MachineNativeOps {self.agent.value}",
                metadata={"agent": self.agent.value, "instance_id": self.instance_id, **self._metadata},
                queue_group=f"q-{self.agent.service_name}",
                stats_handler=self._endpoint_stats,
            ),
        )
        for endpoint, handler in self._routes:
            await self._service.add_endpoint(
                EndpointConfig(
                    name=endpoint.name,
                    subject=endpoint.subject,
                    handler=self._dispatcher(endpoint, handler),
                    metadata={"request": endpoint.request.__name__, "response": endpoint.response.__name__},
                )
            )
        await self._nc.flush()

    def _endpoint_stats(self, stats: EndpointStats) -> dict[str, int]:
        return self._counters.get(stats.name, EndpointCounters()).as_stats()

    async def stop(self, timeout: float) -> None:
        """Stop taking requests, then give in-flight ones up to `timeout` seconds to answer."""
        if self._service is not None:
            await self._service.stop()
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("in-flight requests cancelled at shutdown", count=len(pending))

    def _dispatcher(
        self, endpoint: Endpoint[RequestT, ResponseT], handler: Handler[RequestT, ResponseT]
    ) -> Callable[[Request], Awaitable[None]]:
        async def dispatch(request: Request) -> None:
            task = asyncio.create_task(self._handle(endpoint, handler, request, time.monotonic()))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return dispatch

    async def _handle(
        self,
        endpoint: Endpoint[RequestT, ResponseT],
        handler: Handler[RequestT, ResponseT],
        request: Request,
        arrived: float,
    ) -> None:
        async with self._limits[endpoint.name]:
            if _expired(request, arrived):
                RPC_EXPIRED.labels(self.agent.value, endpoint.name).inc()
                log.info("dropped a request its requester no longer waits for", endpoint=endpoint.subject)
                return
            started = time.perf_counter()
            RPC_IN_FLIGHT.labels(self.agent.value).inc()
            ctx = MessageContext()
            outcome = "ok"
            try:
                try:
                    envelope = decode_envelope(request.data)
                    ctx = context_from(envelope, request.headers)
                    structlog.contextvars.bind_contextvars(
                        **ctx.log_fields(), message_id=envelope.id, endpoint=endpoint.subject
                    )
                    payload = decode_payload(envelope, endpoint.request)
                    result = await handler(payload, ctx)
                    reply = envelope_for(result, ctx, self.agent.value)
                except DecodeError as error:
                    outcome = error.body.code.value
                    log.info("rejected malformed request", error=error.body.message)
                    reply = error_envelope(error.body, ctx, self.agent.value)
                except (AgentError, BusError) as error:
                    outcome = error.body.code.value
                    reply = error_envelope(error.body, ctx, self.agent.value)
                except Exception as error:
                    refused = refused_value(error)
                    if refused is not None:
                        # A value its store refused: the requester's bad input, answered as such.
                        outcome = refused.code.value
                        log.warning("a store refused a value", error=repr(error))
                        reply = error_envelope(refused, ctx, self.agent.value)
                    elif (unavailable := store_unavailable(error)) is not None:
                        # The agent's store is down or restarting: the requester may retry.
                        outcome = unavailable.code.value
                        log.warning("a store is unavailable", error=repr(error))
                        reply = error_envelope(unavailable, ctx, self.agent.value)
                    else:
                        outcome = "internal"
                        log.exception("handler failed")
                        body = ErrorBody(code=ErrorCode.INTERNAL, message=f"{endpoint.subject} failed")
                        reply = error_envelope(body, ctx, self.agent.value)
                try:
                    await request.respond(encode(reply), headers=headers_for(reply, ctx))
                except Exception as error:  # the requester may have gone, or the bus with it
                    outcome = "reply_failed"
                    log.warning("could not send reply", error=repr(error))
                log.info(
                    "handled request",
                    outcome=outcome,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
            finally:
                elapsed = time.perf_counter() - started
                counters = self._counters.setdefault(endpoint.name, EndpointCounters())
                counters.handled += 1
                counters.errors += outcome != "ok"
                counters.processing_ns += int(elapsed * 1e9)
                RPC_IN_FLIGHT.labels(self.agent.value).dec()
                RPC_HANDLER_SECONDS.labels(self.agent.value, endpoint.name, outcome).observe(elapsed)


def _expired(request: Request, arrived: float) -> bool:
    """Whether the requester's wait (its `TIMEOUT_HEADER`, counted from arrival here) is over."""
    value = (request.headers or {}).get(TIMEOUT_HEADER)
    if value is None:
        return False
    try:
        waits = int(value) / 1000
    except ValueError:
        return False
    return time.monotonic() - arrived >= waits
