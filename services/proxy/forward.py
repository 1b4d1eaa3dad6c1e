"""Forwarding one call to its provider and its answer back to the caller, as it arrives.

A JSON answer is read whole (it is needed whole to find its usage, and SDKs read it whole anyway) and
sent on; an event stream (`text/event-stream`) is passed on chunk by chunk as the provider sends it,
while the same bytes are folded into the call's usage. Only when the proxy asked for usage the caller
did not (OpenAI's `include_usage`) does it re-emit the stream event by event, leaving out the extra
usage chunk; each event still leaves as soon as its last byte has arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from services.proxy.metrics import PROXY_OVERHEAD_SECONDS
from services.proxy.providers import client_headers
from services.proxy.sse import SseEvent, SseParser
from services.proxy.usage import Observed, Provider, StreamUsage, from_body, is_openai_usage_chunk


class UpstreamUnreachable(Exception):
    """The provider could not be reached, or did not answer in time, before anything was sent back."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    response: web.StreamResponse  # already sent
    status: int
    observed: Observed


def new_session(connect_timeout: float, read_timeout: float) -> aiohttp.ClientSession:
    """One pooled client for all proxied calls. No total timeout (a long generation streams for
    minutes); a connect timeout, and a limit on the silence between bytes. Proxies in the environment
    are not used (trust_env off): the configured upstream is where calls go."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
    )


async def forward(
    session: aiohttp.ClientSession,
    request: web.Request,
    *,
    provider: Provider,
    url: str,
    headers: CIMultiDict[str],
    body: bytes,
    extra_headers: dict[str, str],
    drop_usage_chunk: bool,
) -> Forwarded:
    sent = time.perf_counter()
    try:
        upstream = await session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        )
    except (TimeoutError, aiohttp.ClientError) as error:
        raise UpstreamUnreachable(f"{type(error).__name__}: {error}") from error
    PROXY_OVERHEAD_SECONDS.labels(provider.value).observe(time.perf_counter() - sent)
    async with upstream:
        returned = client_headers(upstream.headers)
        returned.update(extra_headers)
        if not upstream.headers.get("Content-Type", "").startswith("text/event-stream"):
            try:
                data = await upstream.read()
            except (TimeoutError, aiohttp.ClientError) as error:
                raise UpstreamUnreachable(f"{type(error).__name__}: {error}") from error
            response = web.Response(
                status=upstream.status, reason=upstream.reason, headers=returned, body=data
            )
            await response.prepare(request)
            await response.write_eof()
            observed = from_body(provider, data) if upstream.status < 300 else Observed()
            return Forwarded(response, upstream.status, observed)
        stream = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=returned)
        await stream.prepare(request)
        observed = await _relay(upstream, stream, provider, drop_usage_chunk)
        return Forwarded(stream, upstream.status, observed if upstream.status < 300 else Observed())


async def _relay(
    upstream: aiohttp.ClientResponse, stream: web.StreamResponse, provider: Provider, drop_usage_chunk: bool
) -> Observed:
    parser = SseParser()
    usage = StreamUsage(provider)
    try:
        async for chunk in upstream.content.iter_any():
            events = parser.feed(chunk)
            usage.feed(events)
            if drop_usage_chunk:
                await _write_events(stream, events)
            else:
                await stream.write(chunk)
        rest = parser.close()
        usage.feed(rest)
        if drop_usage_chunk:
            await _write_events(stream, rest)
        await stream.write_eof()
    except (TimeoutError, aiohttp.ClientError, ConnectionResetError):
        # The provider or the caller went away mid-stream: what was used so far is still recorded.
        pass
    return usage.result()


async def _write_events(stream: web.StreamResponse, events: list[SseEvent]) -> None:
    out = b"".join(event.raw for event in events if not is_openai_usage_chunk(event))
    if out:
        await stream.write(out)
