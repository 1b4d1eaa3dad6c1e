"""Proxy routes in the route table and the OpenAPI document; the forwarder's unreachable upstream."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from openapi_spec_validator import validate

from agents.super_agent.routes import ROUTES
from services.gateway.openapi import openapi_document
from services.proxy.forward import UpstreamUnreachable, forward, new_session
from services.proxy.usage import Provider
from shared.messages.permissions import Permission
from tests.fixtures.stack import free_port

PROXY = [route for route in ROUTES if route.path.startswith("/proxy/")]


def test_each_provider_has_proxy_routes_that_need_token_events_write() -> None:
    """POST and GET for OpenAI, Anthropic and Gemini, token_events:write, errors in the provider's shape."""
    assert {(r.method, r.path) for r in PROXY} == {
        (method, f"{prefix}/{{tail:.*}}")
        for method in ("POST", "GET")
        for prefix in ("/proxy/openai/v1", "/proxy/anthropic/v1", "/proxy/gemini/v1beta")
    }
    assert all(r.permission == Permission.TOKEN_EVENTS_WRITE and r.error_shape is not None for r in PROXY)
    assert all(r.streamed_body for r in PROXY)


def test_the_openapi_document_describes_multi_segment_path_parameters() -> None:
    """`{tail:.*}` is documented as the OpenAPI template `{tail}`, a string path parameter, so the
    document validates and clients (and the fuzzer) can fill it in."""
    document = openapi_document(ROUTES, title="t", version="1")
    validate(document)
    operation = document["paths"]["/proxy/openai/v1/{tail}"]["post"]
    assert operation["parameters"][0]["name"] == "tail"
    assert operation["operationId"] == "post_proxy_openai_v1_tail"


async def test_an_upstream_that_cannot_be_reached_is_reported_before_anything_is_sent() -> None:
    """A closed port: UpstreamUnreachable (the route answers 502 in the provider's shape), nothing sent."""
    request = make_mocked_request("POST", "/proxy/openai/v1/chat/completions")
    async with new_session(connect_timeout=2, read_timeout=2) as session:
        with pytest.raises(UpstreamUnreachable):
            await forward(
                session,
                request,
                provider=Provider.OPENAI,
                url=f"http://127.0.0.1:{free_port()}/v1/chat/completions",
                headers=CIMultiDict(),
                body=b"{}",
                extra_headers={},
                drop_usage_chunk=False,
            )
    assert isinstance(session, aiohttp.ClientSession)
