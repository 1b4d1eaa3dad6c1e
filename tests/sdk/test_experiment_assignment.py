"""The SDK's local experiment assignment against the session's real mesh (edge, LearningAgent,
PostgreSQL), through a counting proxy: the server checks every exposure the SDK posts against its
own assignment (422 `variant_mismatch` otherwise), so accepted exposures prove agreement."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from mno_sdk.experiments import decide, definition_of
from mno_wire.assignment import Experiment, Variant, assign
from services.prompts import experiment_store
from services.prompts.assignment import assign as server_assign
from services.prompts.experiments import assignment_of
from shared.db.postgres import create_pool
from tests.fixtures.mesh import Mesh
from tests.prompts.api_support import Member, api, text_prompt
from tests.sdk.conftest import MakeClient
from tests.sdk.edge_proxy import EdgeProxy

EXPERIMENTS = "/api/v1/experiments"


@pytest.fixture
async def pool(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(postgres_dsn, min_size=1, max_size=2, command_timeout=30)
    try:
        yield found
    finally:
        await found.close()


async def ok(mesh: Mesh, method: str, path: str, who: Member, body: Any = None) -> Any:
    status, answer, _ = await api(mesh.edge_url, method, path, who, body)
    assert status == 200, (status, answer)
    return answer


async def running_experiment(
    mesh: Mesh, who: Member, name: str, weights: list[float], coverage: float = 1.0
) -> str:
    """A started experiment over versions 1..n of a new prompt; the first variant is the control."""
    for n in range(len(weights)):
        await ok(mesh, "POST", "/api/v1/prompts", who, text_prompt(name, f"Answer briefly, take {n}."))
    body = {
        "prompt": name,
        "name": f"{name} trial",
        "variants": [{"key": f"v{i}", "version": i + 1, "weight": w} for i, w in enumerate(weights)],
        "coverage": coverage,
        "seed": f"seed-{name}",
    }
    experiment_id: str = (await ok(mesh, "POST", EXPERIMENTS, who, body))["id"]
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", who)
    return experiment_id


async def test_10000_units_agree_with_the_server(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient, pool: asyncpg.Pool
) -> None:
    """The SDK's decision from the definition it fetched equals the server's assignment from its
    stored experiment (server.assign over the row the LearningAgent loads) for 10,000 units, units
    outside the coverage included, with one definition fetch for all of them."""
    experiment_id = await running_experiment(mesh, prompt_owner, "agree", [0.5, 0.3, 0.2], coverage=0.9)
    client = make_team_client(cache_ttl=600.0)
    client.assign(experiment_id, "warm-up")
    fetched = team_edge.received("GET", f"{EXPERIMENTS}/{experiment_id}")
    assert len(fetched) == 1
    definition = definition_of(fetched[0].answer)
    async with pool.acquire() as conn:
        row = await experiment_store.get(conn, prompt_owner.team_id, experiment_id)
    assert row is not None
    stored = assignment_of(row)
    units = [f"user-{i}" for i in range(10_000)]
    ours = [decide(definition, u) for u in units]
    theirs = [server_assign(stored, u).variant for u in units]
    assert ours == [(v, True) if v is not None else ("v0", False) for v in theirs]
    assert 0.87 < sum(inside for _, inside in ours) / len(units) < 0.93
    assert len(team_edge.received("GET", f"{EXPERIMENTS}/{experiment_id}")) == 1


async def test_each_units_exposure_is_logged_once_and_accepted_by_the_servers_check(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """1,500 units assigned twice each: every exposure the SDK posts in the background (in batches) is
    accepted by the server's own assignment check, each unit is posted once, units outside the
    coverage get the control, no tags and no exposure, and the results count exactly the SDK's split."""
    experiment_id = await running_experiment(mesh, prompt_owner, "split", [0.5, 0.3, 0.2], coverage=0.9)
    client = make_team_client(cache_ttl=600.0)
    units = [f"user-{i}" for i in range(1_500)]
    first = {u: client.assign(experiment_id, u) for u in units}
    assert all(client.assign(experiment_id, u) == first[u] for u in units)
    assert client.flush(120)

    inside = {u: a for u, a in first.items() if a.in_experiment}
    outside = [u for u, a in first.items() if not a.in_experiment]
    assert outside
    assert all(first[u].variant == "v0" and first[u].tags == {} for u in outside)
    posts = team_edge.received("POST", f"{EXPERIMENTS}/{experiment_id}/exposures/batch")
    assert all(r.status == 200 for r in posts)
    assert len(posts) < len(inside) / 10  # batched: a handful of requests, not one per unit
    outcomes = [item for r in posts for item in r.answer["items"]]
    assert sorted(i["unit_id"] for i in outcomes) == sorted(inside)
    assert all(i["status"] == "created" for i in outcomes)
    assert all(i["variant"] == inside[i["unit_id"]].variant for i in outcomes)
    assert len(team_edge.received("GET", f"{EXPERIMENTS}/{experiment_id}")) == 1
    sample = next(iter(inside.values()))
    assert sample.tags == {"experiment": experiment_id, "variant": sample.variant, "unit": sample.unit_id}
    assert sample.version == int(sample.variant[1:]) + 1

    split = Counter(a.variant for a in inside.values())
    results = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}/results", prompt_owner)
    assert {v["key"]: v["exposures"] for v in results["variants"]} == dict(split)
    # The server agrees the units left out are outside the coverage.
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        f"{EXPERIMENTS}/{experiment_id}/exposures",
        prompt_owner,
        {"unit_id": outside[0], "variant": "v0"},
    )
    assert status == 422, refused
    assert refused["error"]["details"][0]["type"] == "not_in_experiment"


async def test_a_stopped_variant_is_served_as_the_control_from_then_on(
    mesh: Mesh,
    prompt_owner: Member,
    team_edge: EdgeProxy,
    make_team_client: MakeClient,
    pool: asyncpg.Pool,
) -> None:
    """Once the server refuses an exposure as `variant_stopped` (a guardrail stopped v1 after the SDK
    cached the definition), every unit of v1 gets the control, out of the experiment and without an
    exposure."""
    experiment_id = await running_experiment(mesh, prompt_owner, "guarded", [0.5, 0.5])
    client = make_team_client(cache_ttl=600.0)
    units = [f"u-{i}" for i in range(200)]
    of_v1 = [u for u in units if client.assign(experiment_id, u).variant == "v1"]
    assert client.flush(60)
    async with pool.acquire() as conn:  # what a breached guardrail does when results are read
        assert await experiment_store.stop_variants(conn, experiment_id, {"v1": "latency_ms breached"}) == [
            "v1"
        ]
    reference = Experiment("seed-guarded", (Variant("v0", 0.5), Variant("v1", 0.5)))
    later_v1 = [f"w-{i}" for i in range(200) if assign(reference, f"w-{i}").variant == "v1"]
    stopped_unit = later_v1.pop()
    assert client.assign(experiment_id, stopped_unit).variant == "v1"  # the cached definition
    assert client.flush(30)
    exposures = team_edge.received("POST", f"{EXPERIMENTS}/{experiment_id}/exposures/batch")
    assert exposures[-1].status == 200
    refused = exposures[-1].answer["items"]
    assert [(i["unit_id"], i["status"], i["reason"]) for i in refused] == [
        (stopped_unit, "refused", "variant_stopped")
    ]

    for unit in [*of_v1, stopped_unit, *later_v1]:
        assignment = client.assign(experiment_id, unit)
        assert (assignment.variant, assignment.in_experiment, assignment.tags, assignment.version) == (
            "v0",
            False,
            {},
            1,
        )
    assert client.flush(30)
    assert len(team_edge.received("POST", f"{EXPERIMENTS}/{experiment_id}/exposures/batch")) == len(exposures)
    assert len(team_edge.received("GET", f"{EXPERIMENTS}/{experiment_id}")) == 1
