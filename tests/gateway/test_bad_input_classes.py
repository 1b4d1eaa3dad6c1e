"""Classes of bad input, over every route of the table: control characters in any text field, JSON
too deep or with numbers too large, and a value a store refuses. Routes are found by walking
`ROUTES` and their pydantic models, so a route added later is covered without being named here."""

from __future__ import annotations

import json
import types
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote

import aiohttp
import asyncpg
import nats
import pytest
from aiohttp import web
from pydantic import BaseModel, JsonValue, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agents.super_agent.routes import ROUTES
from mno.stack import NatsServer
from services.gateway.auth import BootstrapTokenAuthenticator
from services.gateway.edge import build_app
from services.gateway.json_body import MAX_DEPTH, MAX_INTEGER_DIGITS, JsonRefused, read_json
from services.gateway.route_table import PUBLIC, Call, Local, Route
from services.identity.bootstrap import ensure_local_admin
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import RemoteError
from shared.bus.service import AgentService
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.envelope import ErrorCode
from shared.messages.mesh import PingRequest, PingResponse
from shared.messages.registry import PING
from tests.fixtures.mesh import TOKEN, Mesh
from tests.fixtures.stack import free_port

NUL = "a\x00b"

Build = Callable[[Any], Any]


# -- walking the models ---------------------------------------------------------------------------


def _wire_name(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _literal_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Discriminators (`kind: Literal[...] = ...`, or without a default its first value), so a value
    lands in the intended union variant."""
    fixed = {}
    for name, field in model.model_fields.items():
        if get_origin(field.annotation) is Literal:
            default = get_args(field.annotation)[0] if field.default is PydanticUndefined else field.default
            fixed[_wire_name(name, field)] = default.value if isinstance(default, Enum) else default
    return fixed


def text_leaves(tp: Any) -> Iterator[tuple[str, Build]]:
    """Every place a string can go in `tp`: (the name of the field that holds it, a function that
    builds a value of `tp` with a given string there)."""
    origin = get_origin(tp)
    if origin is Annotated:
        yield from text_leaves(get_args(tp)[0])
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from text_leaves(arg)
    elif origin in (list, tuple, set, frozenset, typing.Sequence):
        for name, build in text_leaves(get_args(tp)[0]):
            yield name, lambda v, build=build: [build(v)]
    elif origin is dict:
        key_type, value_type = get_args(tp)
        for name, build in text_leaves(key_type):
            yield name, lambda v, build=build: {build(v): "x"}
        for name, build in text_leaves(value_type):
            yield name, lambda v, build=build: {"k": build(v)}
    elif tp is str or tp is SecretStr:
        yield "", lambda v: v
    elif tp is JsonValue:  # free JSON: a string nested in it, and a key
        yield "", lambda v: {"k": [v]}
        yield "", lambda v: {v: 1}
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        fixed = _literal_defaults(tp)
        for field_name, field in tp.model_fields.items():
            wire = _wire_name(field_name, field)
            for inner, build in text_leaves(field.annotation):
                yield inner or wire, lambda v, f=wire, b=build: {**fixed, f: b(v)}


def text_fields(route: Route) -> list[tuple[str, Build]]:
    model = route.input_model
    if model is None or route.raw_body:
        return []
    found: list[tuple[str, Build]] = []
    for field_name, field in model.model_fields.items():
        wire = _wire_name(field_name, field)
        for inner, build in text_leaves(field.annotation):
            found.append((inner or wire, lambda v, f=wire, b=build: {f: b(v)}))
    return found


def json_routes() -> list[Route]:
    """Routes whose body the edge reads as JSON: those with an input model, and proxy mode's OpenAI
    and Anthropic routes (their `model` is read for the budget check; Gemini's is in the path, and
    its body is passed on unread)."""
    return [
        r
        for r in ROUTES
        if r.has_body
        and (
            (r.input_model is not None and not r.raw_body)
            or r.path.startswith(("/proxy/openai/", "/proxy/anthropic/"))
        )
    ]


def test_the_walk_finds_the_known_text_fields() -> None:
    """The model walk reaches nested, listed, mapped and union-variant strings (so the class tests
    below cover them): an event's model and tag values, a channel's recipients, a path's key id."""
    names = {(r.method, r.path): {name for name, _ in text_fields(r)} for r in ROUTES}
    assert {"model", "tags", "user"} <= names[("POST", "/api/v1/token-events")]
    assert {"recipients", "webhook_url", "url", "name"} <= names[("POST", "/api/v1/alert-channels")]
    assert "key_id" in names[("DELETE", "/api/v1/apikeys/{key_id}")]
    assert "project" in names[("GET", "/api/v1/costs")]
    assert {"config", "variables"} <= names[("POST", "/api/v1/prompts")]  # free JSON, a string nested in it
    assert {"value", "pattern", "schema"} <= names[("PUT", "/api/v1/prompts/{name}/test-set")]
    assert len([r for r in ROUTES if text_fields(r)]) >= 40
    assert len(json_routes()) >= 25


# -- requests -------------------------------------------------------------------------------------


def _token_for(route: Route, admin: str) -> str:
    platform = route.permission != PUBLIC and route.permission.value.startswith("platform:")
    return TOKEN if platform else admin


def _request(route: Route, fields: dict[str, Any]) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """(path with its parameters filled in, JSON body, query) for `fields` of the route's model."""
    path = route.path
    for param in route.path_params:
        value = fields.pop(param, str(uuid.uuid4()))
        path = path.replace("{" + param + "}", quote(str(value), safe=""))
    if route.has_body:
        return path, fields, {}
    query = {k: (v[0] if isinstance(v, list) else v) for k, v in fields.items()}
    return path, None, {k: str(v) for k, v in query.items()}


@pytest.fixture
async def admin(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[str]:
    """An owner key of the local account (its plan has every feature), on the session's mesh."""
    pool = await create_pool(postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        yield await ensure_local_admin(pool)
    finally:
        await pool.close()


async def test_every_text_field_of_every_route_refuses_control_characters(mesh: Mesh, admin: str) -> None:
    """Walking every route's model: NUL in any string field (body, query or path, nested or not)
    is a 400/422 naming that field, never a 5xx and never stored."""
    failures = []
    async with aiohttp.ClientSession() as http:
        for route in ROUTES:
            for name, build in text_fields(route):
                path, body, query = _request(route, build(NUL))
                async with http.request(
                    route.method,
                    f"{mesh.edge_url}{path}",
                    data=None if body is None else json.dumps(body),
                    params=query,
                    headers={
                        "Authorization": f"Bearer {_token_for(route, admin)}",
                        "Content-Type": "application/json",
                    },
                ) as response:
                    text = await response.text()
                # An HTML page (the dashboard's) need not quote the field; its status must still say 4xx.
                named = name in text or route.error_page is not None
                if response.status not in (400, 422) or not named:
                    failures.append(f"{route.method} {route.path} {name}: {response.status} {text[:300]}")
    assert failures == [], "\n".join(f[:160] for f in failures)


async def test_control_character_errors_say_so(mesh: Mesh, admin: str) -> None:
    """The refusal names the rule (type control_character), not a regular expression."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/teams",
            json={"name": "x\x1by"},
            headers={"Authorization": f"Bearer {admin}"},
        ) as response:
            assert response.status == 422
            error = (await response.json())["error"]
    assert error["details"] == [
        {
            "loc": "name",
            "message": "control characters (U+0000-U+001F, U+007F-U+009F) are not allowed",
            "type": "control_character",
        }
    ]


DEEP = b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
HUGE = b'{"x": ' + b"1" * 5000 + b"}"


@pytest.mark.parametrize(("raw", "kind"), [(DEEP, "json_too_deep"), (HUGE, "json_number_too_large")])
async def test_every_json_route_refuses_deep_or_huge_json(
    mesh: Mesh, admin: str, raw: bytes, kind: str
) -> None:
    """Walking every JSON-body route: nesting of 1,000 levels or an integer of 5,000 digits is a
    400 bad_request whose detail names the limit, never a 500."""
    failures = []
    async with aiohttp.ClientSession() as http:
        for route in json_routes():
            path, _, _ = _request(route, {})
            path = path.replace("{tail:.*}", "chat/completions")
            async with http.request(
                route.method,
                f"{mesh.edge_url}{path}",
                data=raw,
                headers={
                    "Authorization": f"Bearer {_token_for(route, admin)}",
                    "Content-Type": "application/json",
                },
            ) as response:
                text = await response.text()
            if response.status != 400 or (kind not in text and route.error_page is None):
                failures.append(f"{route.method} {route.path}: {response.status} {text[:200]}")
    assert failures == [], "\n".join(f[:160] for f in failures)


def test_the_json_readers_limits_are_the_documented_ones() -> None:
    """Nesting of MAX_DEPTH levels and integers of MAX_INTEGER_DIGITS digits are read; one more is
    refused with its kind (so a parser upgrade cannot move the contract silently)."""
    assert read_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert read_json(b"1" * MAX_INTEGER_DIGITS) == int("1" * MAX_INTEGER_DIGITS)
    with pytest.raises(JsonRefused) as deep:
        read_json(b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2))
    assert deep.value.kind == "json_too_deep"
    with pytest.raises(JsonRefused) as huge:
        read_json(b"1" * (MAX_INTEGER_DIGITS + 1))
    assert huge.value.kind == "json_number_too_large"
    for not_json in (b"NaN", b'"\\ud800"', b"{", b"\xff"):
        with pytest.raises(JsonRefused) as bad:
            read_json(not_json)
        assert bad.value.kind == "json_invalid"


# -- a value the store refuses --------------------------------------------------------------------


@pytest.fixture
async def pg(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield pool
    finally:
        await pool.close()


async def _store(pool: asyncpg.Pool, value: str) -> None:
    # PostgreSQL refuses NUL in text (22021): what a NUL reaching a store looked like.
    await pool.execute("SELECT $1::text", value)


async def test_a_value_the_store_refuses_is_a_422_at_the_edge(pg: asyncpg.Pool) -> None:
    """A PostgreSQL data exception raised by a route's handler (validation let the value through)
    answers 422 validation_failed with the SQLSTATE, not 500."""

    async def handler(call: Call) -> BaseModel:
        await _store(pg, call.input.echo)
        raise AssertionError("the store took a NUL")

    class Loose(BaseModel):
        echo: str

    route = Route("POST", "/store", "x", PUBLIC, Local(handler), request=Loose, response=PingResponse)
    app = build_app([route], bus=None, authenticator=BootstrapTokenAuthenticator(None), max_body_bytes=1024)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/store", json={"echo": NUL}) as response:
                assert response.status == 422
                error = (await response.json())["error"]
    finally:
        await runner.cleanup()
    assert error["code"] == "validation_failed"
    assert error["details"][0]["sqlstate"] == "22021"


async def test_a_value_the_store_refuses_is_validation_failed_over_the_bus(
    isolated_nats: NatsServer, pg: asyncpg.Pool
) -> None:
    """An agent's request handler whose store refuses a value answers the requester with a typed
    validation_failed (the edge's 422), not internal."""
    ping = PING[AgentName.MONITORING]

    async def handler(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        await _store(pg, request.echo.replace("?", "\x00"))
        raise AssertionError("the store took a NUL")

    nc = await nats.connect(isolated_nats.url)
    service = AgentService(nc, AgentName.MONITORING, version="1.0.0", instance_id="t", max_concurrency=2)
    service.add(ping, handler)
    await service.start()
    try:
        with pytest.raises(RemoteError) as refused:
            await Bus(nc, source="test", request_timeout=5).request(
                ping, PingRequest(echo="a?b"), MessageContext()
            )
        assert refused.value.body.code == ErrorCode.VALIDATION_FAILED
        assert refused.value.body.details[0]["sqlstate"] == "22021"
    finally:
        await service.stop(2)
        await nc.close()
