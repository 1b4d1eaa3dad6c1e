"""schemathesis against the served /api/v1/openapi.json: every operation, valid and invalid input,
with an API key of a team of the fuzzer's own (all of an owner's permissions, every plan feature);
no answer is a 5xx and every answer's status, media type and body are what the document declares.

`make test` runs a bounded, derandomized pass (a fixed seed: CI is reproducible); `make fuzz` runs
many more examples with a random seed (MNO_FUZZ_EXAMPLES, MNO_FUZZ_SEED). The figures (requests,
operations covered, time) and every failure with the curl that reproduces it are printed at the end
and written to build/fuzz/summary.json.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from hypothesis import reject
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents.super_agent.routes import ROUTES
from services.gateway.openapi import openapi_document
from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.permissions import Permission, permissions_of_roles
from tests.fixtures.mesh import Mesh
from tests.fuzz.stats import RUNS, FuzzStats

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
CHECKS = [not_a_server_error, *CONFORMANCE]
# The session mesh points proxy mode at a closed port (tests/fixtures/mesh.py): the proxy's documented
# 502 (upstream unreachable) is its correct answer there; any other 5xx is still a failure.
PROXY_PREFIX = "/proxy/"
# Small enough for `make test` (about two minutes on two cores); `make fuzz` raises it.
MAX_EXAMPLES = int(os.environ.get("MNO_FUZZ_EXAMPLES", "4"))
_SEED = os.environ.get("MNO_FUZZ_SEED", "1313")
SEED = random.getrandbits(64) if _SEED == "random" else int(_SEED)
# GitHub's OAuth sign-in and the App's installation setup need GitHub itself (redirects to it).
EXCLUDED_PATHS = r"^/auth/github/"
EXCLUDED_LABELS = ["GET /auth/github/login", "GET /auth/github/callback", "GET /auth/github/setup"]


@dataclass(frozen=True)
class FuzzKey:
    token: str
    key_id: str
    team_id: str


@pytest.fixture(scope="module")
async def fuzz_key(mesh: Mesh) -> FuzzKey:
    """A key of a new organisation's team on the `local` plan (every feature), with an owner's
    permissions: what the fuzzer creates, changes and deletes is its team's alone."""
    pool = await create_pool(mesh.launcher.postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:
            github_id = uuid.uuid4().int % 10**9
            account = await conn.fetchval(
                "INSERT INTO super_agent.accounts (github_id, login, kind) "
                "VALUES ($1, $2, 'Organization') RETURNING id",
                github_id,
                f"fuzz-{uuid.uuid4().hex[:6]}",
            )
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "VALUES ($1, $2, 'active', 'local', '{}'::jsonb)",
                github_id,
                account,
            )
            team = await conn.fetchval(
                "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
                "VALUES ($1, 'main', 'Main', true) RETURNING id::text",
                account,
            )
            permissions: list[Permission] = sorted(permissions_of_roles(("owner",)))
            info, token = await apikeys.create(
                conn, team_id=team, name="fuzzer", permissions=permissions, created_by=None
            )
            return FuzzKey(str(token), info.key_id, str(team))
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def fuzz_stats() -> Iterator[FuzzStats]:
    stats = FuzzStats(
        seed=SEED,
        max_examples=MAX_EXAMPLES,
        excluded=list(EXCLUDED_LABELS),
        operations_in_document=sum(len(methods) for methods in DOCUMENT["paths"].values()),
    )
    RUNS.append(stats)
    yield stats
    stats.finished = time.monotonic()


# schemathesis's fixture-backed loader (`schemathesis.pytest.from_fixture`) fails on pytest 9 (it sets
# `Function._nodeid`): the document is built from the route table the edge serves it from, one test per
# operation, and test_the_served_document_is_the_one_fuzzed proves it is the served one.
DOCUMENT = openapi_document(ROUTES, title="MachineNativeOps API", version="fuzz")
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        # The seed alone decides what is generated: no example database replaying earlier runs.
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        # The document declares no links: a stateful phase would only repeat the others.
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG).exclude(path_regex=EXCLUDED_PATHS)


def test_the_served_document_is_the_one_fuzzed(mesh: Mesh) -> None:
    """GET /api/v1/openapi.json on the running edge is the document the fuzzer generates from."""
    served = requests.get(f"{mesh.edge_url}/api/v1/openapi.json", timeout=10).json()
    served["info"]["version"] = "fuzz"
    assert served == json.loads(json.dumps(DOCUMENT))


def _revokes_itself(case: schemathesis.Case, key: FuzzKey) -> bool:
    """The fuzzer revoking its own key, or deleting its own team, would end the run, not test it."""
    target = case.path_parameters or {}
    if case.method != "DELETE":
        return False
    if case.path == "/api/v1/apikeys/{key_id}":
        return target.get("key_id") == key.key_id
    return case.path == "/api/v1/teams/{team_id}" and target.get("team_id") == key.team_id


@schema.parametrize()
@pytest.mark.timeout(1800)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, mesh: Mesh, fuzz_key: FuzzKey, fuzz_stats: FuzzStats, http: requests.Session
) -> None:
    """Generated requests to every operation: never a 5xx; status, media type and body as documented."""
    if _revokes_itself(case, fuzz_key):
        reject()
    label = case.operation.label
    headers = {"Authorization": f"Bearer {fuzz_key.token}"}
    response = case.call(
        base_url=mesh.edge_url, session=http, headers=headers, allow_redirects=False, timeout=30
    )
    fuzz_stats.record(label, response.status_code)
    proxied = case.operation.path.startswith(PROXY_PREFIX)
    try:
        if proxied:
            assert response.status_code < 500 or response.status_code == 502, response.text[:500]
        case.validate_response(response, checks=CONFORMANCE if proxied else CHECKS)
    except BaseException as exc:  # schemathesis raises a group of its failures
        curl = case.as_curl_command(headers=headers, base_url=mesh.edge_url)
        fuzz_stats.fail(label, f"{str(exc)[:1500]}\nReproduce: {curl}")
        raise


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
