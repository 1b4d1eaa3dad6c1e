"""Prompt experiments end to end: the session's real mesh (edge, LearningAgent, MonitoringAgent with
chdb, NATS, PostgreSQL) called over HTTP; token events go in through the ingest route with the tags
the SDK sets, and results come back from the agents' real statistics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import pytest

from services.prompts import experiment_store
from services.prompts.assignment import Experiment, Variant, assign
from services.prompts.experiments import Experiments
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.db.postgres import create_pool
from shared.messages.envelope import Principal
from shared.messages.experiments import ExperimentUsageQuery
from shared.messages.permissions import Role
from shared.messages.registry import EXPERIMENT_USAGE
from tests.fixtures.mesh import Mesh
from tests.identity.test_teams_support import audit_actions
from tests.prompts.api_support import Member, api, member, new_team, text_prompt

EXPERIMENTS = "/api/v1/experiments"


@pytest.fixture
async def pool(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(postgres_dsn, min_size=1, max_size=4, command_timeout=30)
    try:
        yield found
    finally:
        await found.close()


async def ok(mesh: Mesh, method: str, path: str, who: Member, body: Any = None, **kw: Any) -> Any:
    status, answer, _ = await api(mesh.edge_url, method, path, who, body, **kw)
    assert status == 200, (status, answer)
    return answer


async def prompt_with_versions(mesh: Mesh, who: Member, name: str, count: int) -> None:
    for n in range(count):
        await ok(mesh, "POST", "/api/v1/prompts", who, text_prompt(name, f"Answer briefly, take {n}."))


def experiment_body(name: str, keys: list[str], **extra: Any) -> dict[str, Any]:
    weight = 1 / len(keys)
    return {
        "prompt": name,
        "name": f"{name} trial",
        "variants": [{"key": k, "version": i + 1, "weight": weight} for i, k in enumerate(keys)],
        "seed": f"seed-{name}",
        **extra,
    }


def units_by_variant(seed: str, keys: list[str], per_variant: int) -> dict[str, list[str]]:
    """Unit ids the SDK would assign to each variant (it runs the same function locally)."""
    experiment = Experiment(seed, tuple(Variant(k, 1 / len(keys)) for k in keys))
    found: dict[str, list[str]] = {k: [] for k in keys}
    i = 0
    while any(len(v) < per_variant for v in found.values()):
        unit = f"user-{i}"
        key = assign(experiment, unit).variant
        assert key is not None
        if len(found[key]) < per_variant:
            found[key].append(unit)
        i += 1
    return found


async def results_when(mesh: Mesh, who: Member, experiment_id: str, units: int) -> dict[str, Any]:
    """Results once every variant's cost metric counts `units` units (storing is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        answer = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}/results", who)
        counted = [
            next((m["units"] for m in v["metrics"] if m["metric"] == "cost_per_request"), 0)
            for v in answer["variants"]
        ]
        if all(c >= units for c in counted) or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.3)


async def test_results_name_the_cheaper_variant_and_a_guardrail_stops_the_slow_one(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """Exposures, tagged token events and scores for three variants: the cheap one is the suggested
    winner, the cheap but slow one is stopped by its latency guardrail on read (and its exposures
    refused after), a wrong variant is a 422 naming the right one, repeats log once, and create/
    start/stop are audited."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "support", 3)
    keys = ["a", "b", "c"]
    body = experiment_body(
        "support", keys, guardrails=[{"metric": "latency_ms", "max_relative_increase": 0.5}]
    )
    created = await ok(mesh, "POST", EXPERIMENTS, owner, body)
    experiment_id = created["id"]
    assert created["status"] == "draft"
    assert [v["key"] for v in created["variants"]] == keys
    started = await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", owner)
    assert started["status"] == "running"

    units = units_by_variant(body["seed"], keys, 24)
    # A client that computed another variant is caught at once.
    wrong = next(k for k in keys if k != "a")
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        f"{EXPERIMENTS}/{experiment_id}/exposures",
        owner,
        {"unit_id": units["a"][0], "variant": wrong},
    )
    assert status == 422, refused
    assert refused["error"]["details"][0]["type"] == "variant_mismatch"
    assert refused["error"]["details"][0]["expected"] == "a"

    cost_tokens = {"a": 3000, "b": 1000, "c": 1200}
    latency = {"a": 100.0, "b": 100.0, "c": 900.0}
    events: list[dict[str, Any]] = []
    now = datetime.now(UTC).isoformat()
    for key, unit_ids in units.items():
        for i, unit in enumerate(unit_ids):
            first = await ok(
                mesh,
                "POST",
                f"{EXPERIMENTS}/{experiment_id}/exposures",
                owner,
                {"unit_id": unit, "variant": key},
            )
            assert first["created"] is True
            for j in range(1 + i % 2):
                events.append(
                    {
                        "id": f"{experiment_id[:8]}-{unit}-{j}",
                        "timestamp": now,
                        "provider": "openai",
                        "model": "gpt-4o",
                        "input_tokens": cost_tokens[key] + 50 * ((i + j) % 5),
                        "output_tokens": 100,
                        "latency_ms": latency[key] * (1 + 0.1 * ((i * 3 + j) % 4)),
                        "user": unit,
                        "prompt_name": "support",
                        "prompt_version": str(keys.index(key) + 1),
                        "tags": {"experiment": experiment_id, "variant": key, "unit": unit},
                        # A quarter of a's units meet an error on their first request.
                        "status": "error" if key == "a" and i % 4 == 0 and j == 0 else "ok",
                    }
                )
    again = await ok(
        mesh,
        "POST",
        f"{EXPERIMENTS}/{experiment_id}/exposures",
        owner,
        {"unit_id": units["b"][0], "variant": "b"},
    )
    assert again["created"] is False
    status, accepted, _ = await api(mesh.edge_url, "POST", "/api/v1/token-events", owner, {"events": events})
    assert status in (200, 202), accepted
    for unit_ids in units.values():
        for i, unit in enumerate(unit_ids):
            await ok(
                mesh,
                "POST",
                f"{EXPERIMENTS}/{experiment_id}/scores",
                owner,
                {
                    "request_id": f"{experiment_id[:8]}-{unit}-0",
                    "unit_id": unit,
                    "name": "helpful",
                    "value": 0.5 + 0.1 * (i % 3),
                },
            )

    results = await results_when(mesh, owner, experiment_id, 24)
    by_key = {v["key"]: v for v in results["variants"]}
    assert results["control"] == "a"
    assert [by_key[k]["exposures"] for k in keys] == [24, 24, 24]
    assert results["sample_ratio"]["mismatch"] is False
    assert results["winner"] == "b", results["winner_reason"]
    cost_b = next(c for c in by_key["b"]["comparisons"] if c["metric"] == "cost_per_request")
    assert cost_b["significant"] is True
    assert cost_b["relative_lift"] < -0.5
    assert cost_b["adjusted_p_value"] < 0.05
    assert {m["metric"] for m in by_key["a"]["metrics"]} >= {
        "cost_per_request",
        "latency_ms",
        "score:helpful",
    }
    # Every built-in metric's value, from the events sent (each unit one observation).
    for key in keys:
        sent = [e for e in events if e["tags"]["variant"] == key]
        errors = sum(1 for e in sent if e["status"] == "error")
        value = {m["metric"]: m["estimate"] for m in by_key[key]["metrics"]}
        assert value["error_rate"] == pytest.approx(errors / len(sent))
        tokens = sum(e["input_tokens"] + e["output_tokens"] for e in sent)
        assert value["tokens_per_request"] == pytest.approx(tokens / len(sent))
        cost = value["cost_per_request"] * len(sent)
        assert value["cost_per_success"] == pytest.approx(cost / (len(sent) - errors))
        assert value["cost_per_unit"] == pytest.approx(cost / 24)
        assert value["units_with_errors"] == pytest.approx((6 if key == "a" else 0) / 24)
    assert results["stopped_now"] == ["c"]
    assert by_key["c"]["stopped"] is True
    assert any(g["breached"] for g in by_key["c"]["guardrails"])
    # A unit of c's posting again after the stop is refused: the SDK serves the control.
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        f"{EXPERIMENTS}/{experiment_id}/exposures",
        owner,
        {"unit_id": units["c"][1], "variant": "c"},
    )
    assert status == 409, refused
    assert refused["error"]["details"][0]["type"] == "variant_stopped"

    # The winner goes to production through the protected label's gate: a member may promote, but
    # not to a protected label; the owner may.
    promote = f"{EXPERIMENTS}/{experiment_id}/promote"
    someone = await member(pool, owner.team_id, Role.MEMBER)
    status, refused, _ = await api(mesh.edge_url, "POST", promote, someone, {})
    assert status == 403, refused
    promoted = await ok(mesh, "POST", promote, owner, {})
    assert promoted["winner"] == "b"
    assert (promoted["moved"]["label"], promoted["moved"]["to_version"]) == ("production", 2)
    served = await ok(mesh, "GET", "/api/v1/prompts/support?label=production", owner)
    assert served["version"] == 2

    stopped = await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/stop", owner)
    assert stopped["status"] == "stopped"
    actions = await audit_actions(pool, owner.team_id)
    assert {"experiments.create", "experiments.start", "experiments.stop"} <= set(actions)
    async with pool.acquire() as conn:
        moves = await conn.fetch(
            "SELECT action, after FROM super_agent.audit_entries WHERE team_id = $1::uuid"
            " AND action LIKE 'prompts.label_move%' ORDER BY seq",
            owner.team_id,
        )
    assert [m["action"] for m in moves] == ["prompts.label_move_refused", "prompts.label_move"]
    assert all(m["after"]["experiment"] == experiment_id for m in moves)


async def test_a_skewed_exposure_split_is_flagged_and_suggests_no_winner(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """Exposures logged for 120 units of one variant and 40 of the other under a 50/50 split: the
    sample-ratio check flags a mismatch and no winner is suggested."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "skewed", 2)
    body = experiment_body("skewed", ["control", "treatment"])
    experiment_id = (await ok(mesh, "POST", EXPERIMENTS, owner, body))["id"]
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", owner)
    units = units_by_variant(body["seed"], ["control", "treatment"], 120)
    for key, count in (("control", 120), ("treatment", 40)):
        for unit in units[key][:count]:
            await ok(
                mesh,
                "POST",
                f"{EXPERIMENTS}/{experiment_id}/exposures",
                owner,
                {"unit_id": unit, "variant": key},
            )
    results = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}/results", owner)
    assert [v["exposures"] for v in results["variants"]] == [120, 40]
    assert results["sample_ratio"]["mismatch"] is True
    assert results["sample_ratio"]["p_value"] < 0.001
    assert results["winner"] is None
    assert "sample ratio mismatch" in results["winner_reason"]
    status, refused, _ = await api(mesh.edge_url, "POST", f"{EXPERIMENTS}/{experiment_id}/promote", owner, {})
    assert status == 409, refused
    assert refused["error"]["details"][0]["type"] == "no_winner"
    assert "sample ratio mismatch" in refused["error"]["message"]


async def test_another_team_cannot_see_or_use_an_experiment(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """Team B gets 404 for team A's experiment on every route and an empty list; A's is unchanged."""
    owner_a = await member(pool, await new_team(pool), Role.OWNER)
    owner_b = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner_a, "private", 2)
    experiment_id = (await ok(mesh, "POST", EXPERIMENTS, owner_a, experiment_body("private", ["x", "y"])))[
        "id"
    ]
    listed = await ok(mesh, "GET", EXPERIMENTS, owner_b)
    assert listed["items"] == []
    for method, tail, body in (
        ("GET", "", None),
        ("GET", "/results", None),
        ("POST", "/start", None),
        ("POST", "/stop", None),
        ("POST", "/exposures", {"unit_id": "u1", "variant": "x"}),
        ("POST", "/scores", {"request_id": "r1", "unit_id": "u1", "name": "q", "value": 1}),
        ("POST", "/promote", {}),
    ):
        status, answer, _ = await api(
            mesh.edge_url, method, f"{EXPERIMENTS}/{experiment_id}{tail}", owner_b, body
        )
        assert status == 404, (method, tail, answer)
        assert answer["error"]["code"] == "not_found"
    mine = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}", owner_a)
    assert mine["status"] == "draft"


async def test_the_plan_limits_experiments_not_stopped(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """Creating past the plan's `experiments` limit is a 402 `plan_limit` naming it; stopping one
    makes room for another."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "limited", 2)
    made: list[str] = []
    for _ in range(50):
        status, answer, _ = await api(
            mesh.edge_url, "POST", EXPERIMENTS, owner, experiment_body("limited", ["p", "q"])
        )
        if status == 402:
            break
        assert status == 200, answer
        made.append(answer["id"])
    assert status == 402, "the plan's limit was never reached"
    detail = answer["error"]["details"][0]
    assert detail["type"] == "plan_limit"
    assert detail["limit"] == "experiments"
    assert detail["maximum"] == len(made)
    await ok(mesh, "POST", f"{EXPERIMENTS}/{made[0]}/stop", owner)
    await ok(mesh, "POST", EXPERIMENTS, owner, experiment_body("limited", ["p", "q"]))


async def test_bad_experiment_definitions_are_precise_422s(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """Weights not summing to 1, duplicate keys and a version the prompt lacks are 422s naming the
    problem; an unknown prompt is a 404."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "defs", 2)
    cases = [
        (
            {
                **experiment_body("defs", ["a", "b"]),
                "variants": [
                    {"key": "a", "version": 1, "weight": 0.5},
                    {"key": "b", "version": 2, "weight": 0.2},
                ],
            },
            422,
            "invalid_variants",
        ),
        (
            {
                **experiment_body("defs", ["a", "b"]),
                "variants": [
                    {"key": "a", "version": 1, "weight": 0.5},
                    {"key": "a", "version": 2, "weight": 0.5},
                ],
            },
            422,
            "invalid_variants",
        ),
        (
            {
                **experiment_body("defs", ["a", "b"]),
                "variants": [
                    {"key": "a", "version": 1, "weight": 0.5},
                    {"key": "b", "version": 9, "weight": 0.5},
                ],
            },
            422,
            "version_not_found",
        ),
        (experiment_body(f"nope-{uuid.uuid4().hex[:6]}", ["a", "b"]), 404, "not_found"),
    ]
    for body, expected, kind in cases:
        status, answer, _ = await api(mesh.edge_url, "POST", EXPERIMENTS, owner, body)
        assert status == expected, answer
        assert answer["error"]["details"][0]["type"] == kind


async def test_the_scheduled_check_stops_a_breaching_variant_nobody_reads(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """With nobody reading results, the LearningAgent's guardrail check (run here in-process against
    the mesh's bus and database, acting in the experiment's own team) stops the slow variant, says so
    on the experiment and refuses its exposures; a later read finds it stopped already."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "watched", 2)
    keys = ["base", "slow"]
    body = experiment_body("watched", keys, guardrails=[{"metric": "latency_ms", "max_value": 500}])
    experiment_id = (await ok(mesh, "POST", EXPERIMENTS, owner, body))["id"]
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", owner)
    units = units_by_variant(body["seed"], keys, 12)
    now = datetime.now(UTC).isoformat()
    events = []
    for key, unit_ids in units.items():
        for i, unit in enumerate(unit_ids):
            await ok(
                mesh,
                "POST",
                f"{EXPERIMENTS}/{experiment_id}/exposures",
                owner,
                {"unit_id": unit, "variant": key},
            )
            events.append(
                {
                    "id": f"{experiment_id[:8]}-{unit}",
                    "timestamp": now,
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 1000,
                    "output_tokens": 100,
                    "latency_ms": (2000.0 if key == "slow" else 100.0) + 10 * (i % 4),
                    "user": unit,
                    "tags": {"experiment": experiment_id, "variant": key, "unit": unit},
                }
            )
    status, accepted, _ = await api(mesh.edge_url, "POST", "/api/v1/token-events", owner, {"events": events})
    assert status in (200, 202), accepted

    client = await nats.connect(mesh.launcher.nats_url)
    try:
        bus = Bus(client, source="test", request_timeout=15)
        reader = Principal(team_id=owner.team_id, roles=("viewer",))
        deadline = asyncio.get_running_loop().time() + 60
        while True:  # stored (asynchronously) before the check; usage reads change nothing
            usage = await bus.request(
                EXPERIMENT_USAGE,
                ExperimentUsageQuery(experiment_id=experiment_id),
                MessageContext(principal=reader),
            )
            if sum(v.units for v in usage.variants) >= 24:
                break
            assert asyncio.get_running_loop().time() < deadline, usage
            await asyncio.sleep(0.3)
        before = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}", owner)
        assert [v["stopped"] for v in before["variants"]] == [False, False]

        assert await Experiments(pool, bus).check_guardrails() >= 1  # others' experiments may stop too
    finally:
        await client.close()
    after = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}", owner)
    assert [v["stopped"] for v in after["variants"]] == [False, True]
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        f"{EXPERIMENTS}/{experiment_id}/exposures",
        owner,
        {"unit_id": units["slow"][0], "variant": "slow"},
    )
    assert status == 409, refused
    results = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}/results", owner)
    assert results["stopped_now"] == []  # the check had stopped it already


async def test_an_exposure_batch_is_answered_per_item_and_stores_only_the_valid_ones(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """One batch: two valid new units (created), one logged before (already), one repeated in the batch
    (already), a mismatched variant (refused, naming the expected one), a stopped variant's unit
    (refused, variant_stopped) and a unit outside the coverage: only the valid units are stored; a
    draft experiment's batch is 409 not_running; over 1,000 items is a 422."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "batched", 3)
    body = experiment_body("batched", ["a", "b", "c"], coverage=0.8)
    experiment_id = (await ok(mesh, "POST", EXPERIMENTS, owner, body))["id"]
    batch = f"{EXPERIMENTS}/{experiment_id}/exposures/batch"
    one = {"exposures": [{"unit_id": "u", "variant": "a"}]}
    status, draft, _ = await api(mesh.edge_url, "POST", batch, owner, one)
    assert status == 409, draft
    assert draft["error"]["details"][0]["type"] == "not_running"
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", owner)

    reference = Experiment("seed-batched", tuple(Variant(k, 1 / 3) for k in "abc"), 0.8)
    units: dict[str | None, list[str]] = {"a": [], "b": [], "c": [], None: []}
    for i in range(400):
        units[assign(reference, f"user-{i}").variant].append(f"user-{i}")
    before, fresh, other, mismatched = units["a"][:4]
    stopped_unit, outside = units["c"][0], units[None][0]
    single = {"unit_id": before, "variant": "a"}
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/exposures", owner, single)
    async with pool.acquire() as conn:  # what a breached guardrail does
        stopped = await experiment_store.stop_variants(conn, experiment_id, {"c": "latency_ms breached"})
    assert stopped == ["c"]
    posted = [
        (fresh, "a"),
        (before, "a"),
        (mismatched, "b"),
        (stopped_unit, "c"),
        (other, "a"),
        (fresh, "a"),
        (outside, "a"),
    ]
    answer = await ok(
        mesh, "POST", batch, owner, {"exposures": [{"unit_id": u, "variant": v} for u, v in posted]}
    )
    assert [(i["unit_id"], i["status"], i["reason"]) for i in answer["items"]] == [
        (fresh, "created", None),
        (before, "already", None),
        (mismatched, "refused", "variant_mismatch"),
        (stopped_unit, "refused", "variant_stopped"),
        (other, "created", None),
        (fresh, "already", None),
        (outside, "refused", "not_in_experiment"),
    ]
    assert answer["items"][2]["expected"] == "a"
    assert answer["items"][3]["stop_reason"] == "latency_ms breached"
    assert (answer["created"], answer["already"], answer["refused"]) == (2, 2, 3)
    async with pool.acquire() as conn:
        stored = await conn.fetch(
            "SELECT unit_id, variant FROM learning.experiment_exposures WHERE experiment_id = $1::uuid",
            experiment_id,
        )
    assert sorted((r["unit_id"], r["variant"]) for r in stored) == sorted(
        [(before, "a"), (fresh, "a"), (other, "a")]
    )
    status, too_many, _ = await api(
        mesh.edge_url,
        "POST",
        batch,
        owner,
        {"exposures": [{"unit_id": f"u-{i}", "variant": "a"} for i in range(1_001)]},
    )
    assert status == 422, too_many


async def test_a_score_posted_again_replaces_its_value_and_an_unexposed_unit_is_refused(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """A score for a unit never exposed is a 422 unit_not_exposed; posting a request's score again
    answers replaced=true and only the new value counts in the variant's mean."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await prompt_with_versions(mesh, owner, "scored", 2)
    keys = ["x", "y"]
    body = experiment_body("scored", keys)
    experiment_id = (await ok(mesh, "POST", EXPERIMENTS, owner, body))["id"]
    await ok(mesh, "POST", f"{EXPERIMENTS}/{experiment_id}/start", owner)
    units = units_by_variant(body["seed"], keys, 2)
    for key, unit_ids in units.items():
        for unit in unit_ids:
            await ok(
                mesh,
                "POST",
                f"{EXPERIMENTS}/{experiment_id}/exposures",
                owner,
                {"unit_id": unit, "variant": key},
            )
    scores = f"{EXPERIMENTS}/{experiment_id}/scores"
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        scores,
        owner,
        {"request_id": "r0", "unit_id": "nobody", "name": "q", "value": 1},
    )
    assert status == 422, refused
    assert refused["error"]["details"][0]["type"] == "unit_not_exposed"
    first, second = units["x"]
    posted = await ok(
        mesh, "POST", scores, owner, {"request_id": "r1", "unit_id": first, "name": "q", "value": 0.2}
    )
    assert (posted["variant"], posted["replaced"]) == ("x", False)
    again = await ok(
        mesh, "POST", scores, owner, {"request_id": "r1", "unit_id": first, "name": "q", "value": 0.9}
    )
    assert again["replaced"] is True
    await ok(mesh, "POST", scores, owner, {"request_id": "r2", "unit_id": second, "name": "q", "value": 0.5})
    for i, unit in enumerate(units["y"]):
        await ok(
            mesh, "POST", scores, owner, {"request_id": f"ry{i}", "unit_id": unit, "name": "q", "value": 0.4}
        )
    results = await ok(mesh, "GET", f"{EXPERIMENTS}/{experiment_id}/results", owner)
    by_key = {v["key"]: {m["metric"]: m["estimate"] for m in v["metrics"]} for v in results["variants"]}
    assert by_key["x"]["score:q"] == pytest.approx((0.9 + 0.5) / 2)
    assert by_key["y"]["score:q"] == pytest.approx(0.4)
