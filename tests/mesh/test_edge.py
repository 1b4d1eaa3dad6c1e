"""The HTTP edge: typed JSON errors for bad input, auth, size limits, and the OpenAPI document."""

from __future__ import annotations

import aiohttp
import pytest
from openapi_spec_validator import validate

from agents.super_agent.routes import ROUTES
from services.gateway.openapi import document_path
from services.gateway.route_table import PUBLIC
from shared.messages.permissions import Permission, Role, roles_allow
from tests.fixtures.mesh import TOKEN, Mesh

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def error_of(response: aiohttp.ClientResponse) -> dict:  # type: ignore[type-arg]
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error", "correlation_id"}
    return body["error"]  # type: ignore[no-any-return]


async def test_missing_or_wrong_token_is_401_with_a_typed_body(mesh: Mesh) -> None:
    """No token and a wrong token both get 401 unauthenticated and a WWW-Authenticate header."""
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
            async with http.get(f"{mesh.edge_url}/api/v1/mesh", headers=headers) as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert (await error_of(response))["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b"[1, 2]", "application/json", 400, "bad_request"),
        (b'{"echo": 5}', "application/json", 422, "validation_failed"),
        (b'{"unknown_field": 1}', "application/json", 422, "validation_failed"),
        (b'{"agents": ["nobody"]}', "application/json", 422, "validation_failed"),
        (b"echo=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
async def test_bad_bodies_get_precise_4xx(
    mesh: Mesh, body: bytes, content_type: str, status: int, code: str
) -> None:
    """Each kind of bad body gets its own status and error code, never a 500."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/ping", data=body, headers={**AUTH, "Content-Type": content_type}
        ) as response:
            assert response.status == status
            assert (await error_of(response))["code"] == code


async def test_validation_errors_name_the_field(mesh: Mesh) -> None:
    """A 422 lists each failing field by its location."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/canaries", json={"work_ms": -1}, headers=AUTH
        ) as response:
            assert response.status == 422
            error = await error_of(response)
    assert error["details"][0]["loc"] == "work_ms"


async def test_oversize_body_is_413(mesh: Mesh) -> None:
    """A body past http.max_body_bytes is refused with 413 payload_too_large."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{mesh.edge_url}/api/v1/mesh/ping",
            data=b'{"echo": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers={**AUTH, "Content-Type": "application/json"},
        ) as response:
            assert response.status == 413
            assert (await error_of(response))["code"] == "payload_too_large"


async def test_unknown_route_and_wrong_method_are_json_errors(mesh: Mesh) -> None:
    """404 and 405 come back as the same typed JSON body as every other error."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mesh.edge_url}/api/v1/nothing-here", headers=AUTH) as response:
            assert response.status == 404
            assert (await error_of(response))["code"] == "not_found"
        async with http.delete(f"{mesh.edge_url}/api/v1/mesh", headers=AUTH) as response:
            assert response.status == 405
            await error_of(response)


async def test_path_parameters_are_validated(mesh: Mesh) -> None:
    """A canary id with characters outside its pattern is a 422, not a lookup."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mesh.edge_url}/api/v1/mesh/canaries/bad%20id%3B", headers=AUTH) as response:
            assert response.status == 422


async def test_edge_health_and_metrics_are_public(mesh: Mesh) -> None:
    """/livez, /readyz and /metrics on the edge answer without a token."""
    async with aiohttp.ClientSession() as http:
        for path in ("/livez", "/readyz", "/metrics"):
            async with http.get(f"{mesh.edge_url}{path}") as response:
                assert response.status == 200, path
        async with http.get(f"{mesh.edge_url}/metrics") as response:
            assert "mno_http_request_duration_seconds_bucket" in await response.text()


async def test_openapi_document_validates_and_lists_every_route(mesh: Mesh) -> None:
    """The served OpenAPI 3.1 document passes openapi-spec-validator and has every route of the table,
    each with its permission and the plan feature it needs."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{mesh.edge_url}/api/v1/openapi.json") as response:
            assert response.status == 200
            document = await response.json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    for route in ROUTES:
        operation = document["paths"][document_path(route.path)][route.method.lower()]
        expected = PUBLIC if route.permission == PUBLIC else route.permission.value
        assert operation["x-mno-permission"] == expected
        assert operation["x-mno-routed-to"] == route.routed_to
        assert operation["x-mno-feature"] == route.feature


def test_every_route_declares_a_permission_or_public() -> None:
    """No route of the table is left without a permission (or an explicit public)."""
    for route in ROUTES:
        assert route.permission == PUBLIC or isinstance(route.permission, Permission), route.path


def test_role_table_answers_for_mesh_permissions() -> None:
    """Viewers may read the mesh but not publish canaries; owners may do both."""
    assert roles_allow((Role.VIEWER.value,), Permission.MESH_READ)
    assert not roles_allow((Role.VIEWER.value,), Permission.MESH_WRITE)
    assert roles_allow((Role.OWNER.value,), Permission.MESH_WRITE)
    assert not roles_allow((Role.BILLING.value,), Permission.MESH_READ)
