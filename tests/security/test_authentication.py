"""Every route that is not declared public demands a credential, whatever its method, path or body.

The route table is walked, so a route added later is covered without anyone remembering: a request
with no credential, or with a made-up one, must be refused with 401 (or, for a page, sent to sign in),
and never reach a handler (no 2xx, no 5xx, no 4xx from validation)."""

from __future__ import annotations

import re

import aiohttp
import pytest

from agents.super_agent.routes import ROUTES
from services.gateway.route_table import PUBLIC, Route
from tests.fixtures.mesh import Mesh

PROTECTED = [route for route in ROUTES if route.permission != PUBLIC]
CREDENTIALS = {
    "none": {},
    "made-up key": {"Authorization": "Bearer mno_live_0000000000000000000000000000"},
    "basic auth": {"Authorization": "Basic Zm9vOmJhcg=="},
    "made-up proxy key": {"X-MNO-Api-Key": "mno_live_0000000000000000000000000000"},
}


def concrete_path(route: Route) -> str:
    """The route's path with each template segment filled (`{key_id}` → a UUID, `{tail:.*}` → a path)."""
    filled = re.sub(r"\{[^}:]+:\.\*\}", "chat/completions", route.path)
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", filled)


def refused(route: Route, status: int, location: str | None) -> bool:
    if status == 401:
        return True
    # A dashboard route (a page, or its CSV export) sends a visitor with no session to sign in.
    return route.error_page is not None and status in (302, 303) and "sign-in" in (location or "")


def test_the_walk_covers_every_protected_route() -> None:
    """The table has protected routes of every method, so the walk below is not vacuous."""
    assert len(PROTECTED) >= 40
    assert {route.method for route in PROTECTED} >= {"GET", "POST", "DELETE"}


@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_no_protected_route_answers_without_a_valid_credential(mesh: Mesh, credential: str) -> None:
    """Each non-public route refuses a request with no (or a made-up) credential before doing anything."""
    answered: list[str] = []
    async with aiohttp.ClientSession() as http:
        for route in PROTECTED:
            async with http.request(
                route.method,
                f"{mesh.edge_url}{concrete_path(route)}",
                headers={**CREDENTIALS[credential], "Content-Type": "application/json"},
                data=b"{}" if route.method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False,
            ) as response:
                if not refused(route, response.status, response.headers.get("Location")):
                    answered.append(f"{route.method} {route.path}: {response.status}")
    assert answered == []
