"""The edge's smaller rules: 405 with Allow, blank bodies, RFC 3339 instants only, keys not born
expired, unparseable HTTP answered as typed JSON, and the OpenAPI document stating every rule."""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import urlsplit

import aiohttp
import pytest
from pydantic import AwareDatetime, NaiveDatetime

from agents.super_agent.routes import ROUTES
from services.gateway.openapi import openapi_document
from services.gateway.route_table import Route
from services.identity.bootstrap import ensure_local_admin
from shared.db.postgres import create_pool
from tests.fixtures.mesh import TOKEN, Mesh


@pytest.fixture
async def admin(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[str]:
    pool = await create_pool(postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        yield await ensure_local_admin(pool)
    finally:
        await pool.close()


async def test_a_wrong_method_is_405_method_not_allowed_with_allow(mesh: Mesh) -> None:
    """405 carries the code method_not_allowed and an Allow header listing the path's methods."""
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{mesh.edge_url}/api/v1/apikeys", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            assert response.status == 405
            assert set(response.headers["Allow"].split(",")) == {"GET", "POST"}
            assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_a_blank_body_is_400_where_a_body_is_required(mesh: Mesh, admin: str) -> None:
    """Whitespace is no body: 400 missing_body for a route with required fields; a route whose
    fields are all optional still takes it as none."""
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for blank in (b"", b"  \n\t "):
            async with http.post(f"{mesh.edge_url}/api/v1/apikeys", data=blank, headers=headers) as response:
                assert response.status == 400
                error = (await response.json())["error"]
                assert (error["code"], error["details"][0]["type"]) == ("bad_request", "missing_body")
            async with http.post(
                f"{mesh.edge_url}/api/v1/mesh/ping", data=blank, headers=headers
            ) as response:
                assert response.status == 200


def _is_instant(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Annotated:
        return _is_instant(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return any(_is_instant(arg) for arg in get_args(tp))
    return tp in (datetime, AwareDatetime, NaiveDatetime)


def instant_fields(route: Route) -> list[str]:
    model = route.input_model
    if model is None or route.raw_body:
        return []
    return [name for name, field in model.model_fields.items() if _is_instant(field.annotation)]


async def test_every_instant_of_every_route_refuses_numbers(mesh: Mesh, admin: str) -> None:
    """Walking every route's model: a Unix time (a JSON number, or digits in a query) where an
    instant goes is a 422 naming the field, not read as seconds since 1970."""
    assert {"since", "until"} <= set(instant_fields(next(r for r in ROUTES if r.path == "/api/v1/costs")))
    failures = []
    async with aiohttp.ClientSession() as http:
        for route in ROUTES:
            for name in instant_fields(route):
                for number in (1700000000, "1700000000", "1700000000.5"):
                    if route.has_body and isinstance(number, str):
                        continue
                    path = route.path
                    for param in route.path_params:
                        path = path.replace("{" + param + "}", "00000000-0000-0000-0000-000000000000")
                    async with http.request(
                        route.method,
                        f"{mesh.edge_url}{path}",
                        json={name: number} if route.has_body else None,
                        params=None if route.has_body else {name: str(number)},
                        headers={"Authorization": f"Bearer {admin}"},
                    ) as response:
                        if route.error_page is not None:
                            # A dashboard page says what is wrong in HTML; the field is named there.
                            text = await response.text()
                            if response.status != 422 or name not in text:
                                where = f"{route.method} {route.path} {name}={number!r}"
                                failures.append(f"{where}: {response.status} page")
                            continue
                        body = await response.json()
                    locs = [d.get("loc") for d in body.get("error", {}).get("details", [])]
                    if response.status != 422 or name not in locs:
                        failures.append(
                            f"{route.method} {route.path} {name}={number!r}: {response.status} {body}"
                        )
    assert failures == [], "\n".join(failures)


async def test_an_api_key_cannot_be_created_expired(mesh: Mesh, admin: str) -> None:
    """An expiry in the past (or now) is a 422 on expires_at; one in the future makes the key."""
    answers = {}
    async with aiohttp.ClientSession() as http:
        for name, when in (
            ("past", datetime.now(UTC) - timedelta(minutes=1)),
            ("future", datetime.now(UTC) + timedelta(days=1)),
        ):
            async with http.post(
                f"{mesh.edge_url}/api/v1/apikeys",
                json={"name": name, "permissions": ["costs:read"], "expires_at": when.isoformat()},
                headers={"Authorization": f"Bearer {admin}"},
            ) as response:
                answers[name] = (response.status, await response.json())
    status, body = answers["past"]
    assert status == 422
    assert [(d["loc"], d["message"]) for d in body["error"]["details"]] == [
        ("expires_at", "Value error, expires_at must be in the future")
    ]
    assert answers["future"][0] == 201


async def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/v1/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Long: " + b"v" * 10_000 + b"\r\n\r\n",
    ],
    ids=["long-request-line", "bad-header", "long-header"],
)
async def test_requests_aiohttp_cannot_parse_get_the_typed_json_error(
    mesh: Mesh, request_bytes: bytes
) -> None:
    """What aiohttp's HTTP parser refuses (before any route) is answered with our JSON error body,
    not aiohttp's text/plain."""
    status, headers, body = await _raw(mesh.edge_url, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    document = json.loads(body)
    assert document["error"]["code"] == "bad_request"
    assert document["error"]["message"].startswith("the request is not valid HTTP")
    assert document["correlation_id"]


def test_the_openapi_document_states_the_rules_the_server_enforces() -> None:
    """Cross-field rules (until > since, exactly one of, at least one of), ranges checked in code
    and the audit export's CSV appear in the generated document."""
    document = openapi_document(ROUTES, title="t", version="1")
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert "until > since" in paths["/api/v1/costs"]["get"]["x-mno-rules"]
    assert "until > since" in paths["/api/v1/anomalies"]["get"]["x-mno-rules"]
    assert "until > since" in paths["/api/v1/costs/reprice"]["post"]["x-mno-rules"]
    assert paths["/api/v1/invitations"]["post"]["x-mno-rules"] == ["exactly one of: email, github_login"]
    assert schemas["CreateInvitation"]["x-mno-rules"] == ["exactly one of: email, github_login"]
    assert "at least one of: name, slug" in paths["/api/v1/teams/{team_id}"]["patch"]["x-mno-rules"]
    assert any("exactly one of" in r for r in paths["/api/v1/price-overrides"]["post"]["x-mno-rules"])
    assert "expires_at > now" in paths["/api/v1/apikeys"]["post"]["x-mno-rules"]
    assert paths["/api/v1/budgets"]["post"]["x-mno-rules"]
    assert schemas["CreateBudget"]["properties"]["thresholds"]["items"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
    }
    export = paths["/api/v1/audit/export"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"application/x-ndjson", "text/csv"}
    # The no-control-characters rule is stated as it is enforced: a pattern on free text.
    assert schemas["CreateTeam"]["properties"]["name"]["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]*$"
