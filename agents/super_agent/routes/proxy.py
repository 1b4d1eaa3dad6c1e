"""Proxy mode's routes: `/proxy/openai/v1/...`, `/proxy/anthropic/v1/...`, `/proxy/gemini/v1beta/...`.

The edge authenticates the MNO key (`X-MNO-Api-Key`) and checks `token_events:write` like any route;
the handler then checks the team's hard budgets, forwards the call (`services.proxy.forward`) and
records its usage (`services.proxy.record`). Every error of ours is in the provider's JSON shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import aiohttp
from aiohttp import web

from agents.super_agent.edge_deps import deps
from services.gateway.edge import REQUEST_ID_HEADER
from services.gateway.errors import HttpProblem
from services.gateway.route_table import Call, Local, RequestBody, Route
from services.proxy import providers
from services.proxy.budget_precheck import CallScope, precheck
from services.proxy.forward import UpstreamUnreachable, forward, new_session
from services.proxy.metrics import PROXY_CALLS_TOTAL
from services.proxy.record import CallFacts, Recorder
from services.proxy.usage import Provider
from shared.bus.errors import AgentError
from shared.config.models import ProxySettings
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.permissions import Permission


@dataclass(frozen=True)
class ProxyState:
    """The proxy's configuration and its one pooled HTTP client (closed at shutdown)."""

    settings: ProxySettings
    session: aiohttp.ClientSession
    recorder: Recorder

    @classmethod
    def open(cls, settings: ProxySettings) -> ProxyState:
        session = new_session(settings.connect_timeout_seconds, settings.read_timeout_seconds)
        return cls(settings, session, Recorder())

    def upstream(self, provider: Provider) -> str:
        base = {
            Provider.OPENAI: self.settings.openai_upstream,
            Provider.ANTHROPIC: self.settings.anthropic_upstream,
            Provider.GEMINI: self.settings.gemini_upstream,
        }[provider]
        return str(base).rstrip("/")

    async def close(self, drain_timeout: float) -> None:
        """Let the calls answered so far be recorded, then close the client."""
        await self.recorder.drain(drain_timeout)
        await self.session.close()


PROXY = web.AppKey("mno_proxy", ProxyState)


async def _body(request: web.Request, limit: int) -> bytes:
    """The request body, read only now that the caller is known; 413 past `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes")
    return bytes(body)


async def proxy(call: Call, provider: Provider) -> web.StreamResponse:
    edge, request = deps(call), call.request
    state = request.app[PROXY]
    if not state.settings.enabled:
        raise HttpProblem(ErrorCode.NOT_FOUND, "proxy mode is off on this installation (proxy.enabled)")
    tail = request.match_info["tail"]
    body = await _body(request, state.settings.max_body_bytes)
    project = request.headers.get(providers.PROJECT_HEADER) or None
    user = request.headers.get(providers.USER_HEADER) or None
    model = providers.requested_model(provider, tail, body)
    scope = CallScope(model=model, project=project, user=user, api_key_id=call.ctx.principal.api_key_id)
    exhausted = await precheck(edge.intake.budgets, edge.bus, call.ctx, scope)
    if exhausted is not None:
        PROXY_CALLS_TOTAL.labels(provider.value, "refused_by_budget").inc()
        raise AgentError(
            ErrorCode.RATE_LIMITED,
            f"the hard limit of budget {exhausted.name!r} is reached; calls resume when its period ends",
            [{"budget_id": exhausted.budget_id, "retry_after_seconds": exhausted.retry_after_seconds}],
        )
    body, asked_for_usage = providers.ask_for_stream_usage(provider, tail, body)
    url = f"{state.upstream(provider)}/{tail}"
    if request.query_string:
        url = f"{url}?{request.query_string}"
    started_at, started = datetime.now(UTC), time.perf_counter()
    try:
        forwarded = await forward(
            state.session,
            request,
            provider=provider,
            url=url,
            headers=providers.upstream_headers(request.headers),
            body=body,
            extra_headers={REQUEST_ID_HEADER: call.ctx.correlation_id},
            drop_usage_chunk=asked_for_usage,
        )
    except UpstreamUnreachable as error:
        PROXY_CALLS_TOTAL.labels(provider.value, "upstream_unreachable").inc()
        error_body = ErrorBody(
            code=ErrorCode.UNAVAILABLE, message=f"the {provider.value} upstream did not answer ({error})"
        )
        return web.json_response(
            providers.error_document(provider, error_body, 502),
            status=502,
            headers={REQUEST_ID_HEADER: call.ctx.correlation_id},
        )
    if forwarded.status >= 300:
        # The provider's own error, passed through as it was: the call did not happen.
        PROXY_CALLS_TOTAL.labels(provider.value, "upstream_error").inc()
        return forwarded.response
    facts = CallFacts(
        provider=provider,
        requested_model=model,
        started_at=started_at,
        latency_ms=(time.perf_counter() - started) * 1000,
        project=project,
        user=user,
    )
    await state.recorder.submit(edge.intake, call.ctx, facts, forwarded.observed)
    return forwarded.response


# The path after the provider's API version, as its SDK builds it (several segments, e.g.
# chat/completions or models/gemini-2.5-flash:streamGenerateContent).
_PREFIXES = {
    Provider.OPENAI: "/proxy/openai/v1",
    Provider.ANTHROPIC: "/proxy/anthropic/v1",
    Provider.GEMINI: "/proxy/gemini/v1beta",
}
_SUMMARIES = {
    Provider.OPENAI: "OpenAI API through the edge (base_url=<edge>/proxy/openai/v1): chat completions, "
    "responses, embeddings; streams passed through as they arrive, usage recorded (include_usage asked "
    "for when the caller did not, and its extra chunk left out).",
    Provider.ANTHROPIC: "Anthropic Messages API through the edge (base_url=<edge>/proxy/anthropic); "
    "streams passed through as they arrive, usage recorded from message_start and message_delta.",
    Provider.GEMINI: "Gemini API through the edge (base_url=<edge>/proxy/gemini): generateContent and "
    "streamGenerateContent (alt=sse or not), usage recorded from usageMetadata.",
}
_HOW = (
    " Send the MNO API key in X-MNO-Api-Key and the provider's key as the SDK does (passed through, "
    "never stored); X-MNO-Project and X-MNO-User scope the call. Provider errors pass through with "
    "their status; ours (401, 403, 413, 429 when a hard budget is spent, with Retry-After; 502 when "
    "the provider is unreachable) come in the provider's error shape."
)


_PROVIDER_BODY = RequestBody(
    "The provider's own request (e.g. OpenAI's chat completion, Anthropic's message), passed on as sent.",
    {"application/json": {"type": "object"}},
)


def _routes() -> list[Route]:
    routes: list[Route] = []
    for provider, prefix in _PREFIXES.items():
        for method in ("POST", "GET"):
            routes.append(
                Route(
                    method,
                    prefix + "/{tail:.*}",
                    _SUMMARIES[provider] + _HOW,
                    Permission.TOKEN_EVENTS_WRITE,
                    Local(partial(proxy, provider=provider)),
                    tags=("proxy",),
                    raw_body=True,
                    streamed_body=True,
                    body=_PROVIDER_BODY if method == "POST" else None,
                    extra_status=(404, 413, 429, 502, 503, 504),
                    error_shape=partial(providers.error_document, provider),
                    deadline=False,  # an LLM answer may stream for minutes
                )
            )
    return routes


PROXY_ROUTES = _routes()
