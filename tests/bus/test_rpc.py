"""Request/reply over a real nats-server: typed results, typed errors, fast failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY

from mno.stack import NatsServer
from shared.bus.client import Bus
from shared.bus.codec import decode_envelope
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, RemoteError, RequestTimeout, ServiceUnavailable
from shared.bus.service import AgentService
from shared.messages.agents import AgentName
from shared.messages.envelope import ErrorCode
from shared.messages.mesh import PingRequest, PingResponse
from shared.messages.registry import PING, Endpoint

AGENT = AgentName.SUPPLY_CHAIN


@pytest.fixture
async def nc(isolated_nats: NatsServer) -> AsyncIterator[NATS]:
    # A server of its own: the session's mesh serves the same subjects, and its replicas would
    # share these requests through the queue group.
    connection = await nats.connect(isolated_nats.url)
    try:
        yield connection
    finally:
        await connection.close()


def reply(echo: str, instance: str = "i1") -> PingResponse:
    return PingResponse(
        agent=AGENT,
        instance_id=instance,
        version="1.0.0",
        pid=1,
        received_at="2026-01-01T00:00:00Z",
        echo=echo,
    )  # type: ignore[arg-type]


async def serve(nc: NATS, handler, instance: str = "i1") -> AgentService:  # type: ignore[no-untyped-def]
    service = AgentService(nc, AGENT, version="1.0.0", instance_id=instance, max_concurrency=16)
    service.add(PING[AGENT], handler)
    await service.start()
    return service


async def test_request_returns_the_typed_reply_and_principal_reaches_the_handler(nc: NATS) -> None:
    """The handler gets the typed payload and context; the caller gets the typed response."""
    seen: list[MessageContext] = []

    async def handler(request: PingRequest, ctx: MessageContext) -> PingResponse:
        seen.append(ctx)
        return reply(request.echo)

    service = await serve(nc, handler)
    try:
        ctx = MessageContext()
        result = await Bus(nc, source="t", request_timeout=2).request(PING[AGENT], PingRequest(echo="x"), ctx)
    finally:
        await service.stop(1)
    assert isinstance(result, PingResponse)
    assert result.echo == "x"
    assert seen[0].correlation_id == ctx.correlation_id
    assert seen[0].trace.trace_id == ctx.trace.trace_id


async def test_malformed_message_gets_a_typed_error_and_the_service_keeps_serving(nc: NATS) -> None:
    """Raw garbage on an endpoint's subject is answered with bad_request, then normal calls still work."""

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        return reply(request.echo)

    service = await serve(nc, handler)
    try:
        raw = await nc.request(PING[AGENT].subject, b"{not json", timeout=2)
        envelope = decode_envelope(raw.data)
        assert envelope.error is not None
        assert envelope.error.code == ErrorCode.BAD_REQUEST
        result = await Bus(nc, source="t", request_timeout=2).request(
            PING[AGENT], PingRequest(echo="ok"), MessageContext()
        )
        assert result.echo == "ok"
    finally:
        await service.stop(1)


async def test_handler_errors_cross_the_wire_typed(nc: NATS) -> None:
    """An AgentError arrives as RemoteError with its code; a crash arrives as internal, not a hang."""

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        if request.echo == "missing":
            raise AgentError(ErrorCode.NOT_FOUND, "no such thing")
        raise RuntimeError("boom")

    service = await serve(nc, handler)
    bus = Bus(nc, source="t", request_timeout=2)
    try:
        with pytest.raises(RemoteError) as not_found:
            await bus.request(PING[AGENT], PingRequest(echo="missing"), MessageContext())
        with pytest.raises(RemoteError) as crashed:
            await bus.request(PING[AGENT], PingRequest(echo="crash"), MessageContext())
    finally:
        await service.stop(1)
    assert not_found.value.body.code == ErrorCode.NOT_FOUND
    assert crashed.value.body.code == ErrorCode.INTERNAL
    assert "boom" not in crashed.value.body.message


async def test_no_responders_fails_at_once(nc: NATS) -> None:
    """With nobody serving the subject the caller gets ServiceUnavailable (NATS's no-responders answer),
    not RequestTimeout: it is told at once instead of waiting out its timeout."""
    with pytest.raises(ServiceUnavailable):
        await Bus(nc, source="t", request_timeout=60).request(PING[AGENT], PingRequest(), MessageContext())


async def test_slow_handler_times_out_as_a_typed_error(nc: NATS) -> None:
    """A handler slower than the caller's timeout gives RequestTimeout with code timeout."""

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        await asyncio.sleep(1)
        return reply(request.echo)

    service = await serve(nc, handler)
    try:
        with pytest.raises(RequestTimeout) as caught:
            await Bus(nc, source="t", request_timeout=0.2).request(
                PING[AGENT], PingRequest(), MessageContext()
            )
    finally:
        await service.stop(2)
    assert caught.value.body.code == ErrorCode.TIMEOUT


async def test_requests_are_handled_concurrently(nc: NATS) -> None:
    """Ten requests are all in their handler at the same time, not one after another: each handler
    waits until all ten have arrived, which a serial service could never reach."""
    arrived = 0
    all_in = asyncio.Event()

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        nonlocal arrived
        arrived += 1
        if arrived == 10:
            all_in.set()
        await all_in.wait()
        return reply(request.echo)

    service = await serve(nc, handler)
    bus = Bus(nc, source="t", request_timeout=30)
    try:
        answers = await asyncio.gather(
            *(bus.request(PING[AGENT], PingRequest(echo=str(n)), MessageContext()) for n in range(10))
        )
    finally:
        await service.stop(1)
    assert sorted(answer.echo for answer in answers) == sorted(str(n) for n in range(10))


async def test_stop_lets_in_flight_requests_answer(nc: NATS) -> None:
    """Stopping the service while a request is being handled still delivers that request's reply."""

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        await asyncio.sleep(0.3)
        return reply(request.echo)

    service = await serve(nc, handler)
    bus = Bus(nc, source="t", request_timeout=5)
    pending = asyncio.create_task(bus.request(PING[AGENT], PingRequest(echo="late"), MessageContext()))
    await asyncio.sleep(0.1)
    await service.stop(5)
    assert (await pending).echo == "late"


SLOW_PING = Endpoint(AGENT, "slow_ping", PingRequest, PingResponse, "A test endpoint whose handler waits.")


async def test_a_saturated_endpoint_does_not_hold_up_another(nc: NATS) -> None:
    """With every slot of one endpoint taken by stuck requests, another endpoint still answers."""
    release = asyncio.Event()

    async def stuck(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        await release.wait()
        return reply(request.echo)

    async def quick(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        return reply(request.echo)

    service = AgentService(nc, AGENT, version="1.0.0", instance_id="i1", max_concurrency=2)
    service.add(SLOW_PING, stuck)
    service.add(PING[AGENT], quick)
    await service.start()
    bus = Bus(nc, source="t", request_timeout=10)
    try:
        waiting = [
            asyncio.create_task(bus.request(SLOW_PING, PingRequest(echo=f"s{n}"), MessageContext()))
            for n in range(4)
        ]
        await asyncio.sleep(0.2)
        answer = await bus.request(PING[AGENT], PingRequest(echo="q"), MessageContext(), timeout=2)
        assert answer.echo == "q"
        assert not any(task.done() for task in waiting)
        release.set()
        assert sorted(a.echo for a in await asyncio.gather(*waiting)) == ["s0", "s1", "s2", "s3"]
    finally:
        release.set()
        await service.stop(2)


async def test_a_request_that_waited_past_its_requesters_timeout_is_not_handled(nc: NATS) -> None:
    """Queued behind a stuck request longer than its caller waits, a request is dropped, not run."""
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        handled.append(request.echo)
        if request.echo == "first":
            await release.wait()
        return reply(request.echo)

    service = AgentService(nc, AGENT, version="1.0.0", instance_id="i1", max_concurrency=1)
    service.add(PING[AGENT], handler)
    await service.start()
    bus = Bus(nc, source="t", request_timeout=10)
    expired_before = REGISTRY.get_sample_value(
        "mno_rpc_expired_total", {"agent": AGENT.value, "endpoint": PING[AGENT].name}
    )
    try:
        first = asyncio.create_task(bus.request(PING[AGENT], PingRequest(echo="first"), MessageContext()))
        await asyncio.sleep(0.2)
        with pytest.raises(RequestTimeout):
            await bus.request(PING[AGENT], PingRequest(echo="late"), MessageContext(), timeout=0.3)
        release.set()
        assert (await first).echo == "first"
        # A request with time left after the wait is still handled.
        assert (await bus.request(PING[AGENT], PingRequest(echo="next"), MessageContext())).echo == "next"
    finally:
        release.set()
        await service.stop(2)
    assert handled == ["first", "next"]
    expired_after = REGISTRY.get_sample_value(
        "mno_rpc_expired_total", {"agent": AGENT.value, "endpoint": PING[AGENT].name}
    )
    assert expired_after == (expired_before or 0) + 1
