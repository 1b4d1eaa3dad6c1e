"""Evaluations end to end: a mesh of this module's own (the edge, the MonitoringAgent that prices,
the LearningAgent that runs; real NATS and PostgreSQL) whose evaluation calls go to a local
stand-in model API; test sets and runs over HTTP, and the promotion gate that reads their outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.pricing.maintained import maintained_price_source
from services.pricing.models import Usage
from services.prompts import evaluation_store
from shared.messages.agents import AgentName
from shared.messages.permissions import Role
from tests.fixtures.mesh import MeshLauncher, own_mesh
from tests.identity.test_teams_support import audit_actions
from tests.prompts import model_stand_in
from tests.prompts.api_support import Member, api, member, new_team
from tests.prompts.model_stand_in import API_KEY, ModelStandIn


@dataclass
class EvalMesh:
    launcher: MeshLauncher
    pool: asyncpg.Pool
    model_api: ModelStandIn

    @property
    def edge_url(self) -> str:
        return self.launcher.edge_url


@pytest.fixture(scope="module")
def model_api() -> Iterator[ModelStandIn]:
    yield from model_stand_in.start(ModelStandIn())


@pytest.fixture(scope="module")
async def eval_mesh(
    tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str, model_api: ModelStandIn
) -> AsyncIterator[EvalMesh]:
    overrides = {"evaluations": {"base_url": f"{model_api.url}/v1", "api_key": API_KEY, "concurrency": 2}}
    agents = (AgentName.SUPER_AGENT, AgentName.MONITORING, AgentName.LEARNING)
    workdir = tmp_path_factory.mktemp("evaluations")
    async with own_mesh(workdir, postgres_dsn, agents, overrides) as (launcher, pool):
        yield EvalMesh(launcher, pool, model_api)


def capital_prompt(name: str, system: str = "Answer in one word.") -> dict[str, Any]:
    return {
        "name": name,
        "type": "chat",
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Capital of {{ country }}"},
        ],
        "variables": {"country": {"type": "string"}},
        "config": {"model": "gpt-4o-mini", "temperature": 0.2},
    }


async def call(mesh: EvalMesh, method: str, path: str, who: Member, body: Any = None, **kw: Any) -> Any:
    status, answer, _ = await api(mesh.edge_url, method, path, who, body, **kw)
    return status, answer


async def finished(mesh: EvalMesh, who: Member, name: str, run_id: str) -> dict[str, Any]:
    """The run once it is no longer running (the agent runs it in the background)."""
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        status, run = await call(mesh, "GET", f"/api/v1/prompts/{name}/evaluations/{run_id}", who)
        assert status == 200, run
        if run["status"] != "running":
            return dict(run)
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.2)


async def evaluate(mesh: EvalMesh, who: Member, name: str, version: int) -> dict[str, Any]:
    status, run = await call(mesh, "POST", f"/api/v1/prompts/{name}/evaluations", who, {"version": version})
    assert status == 202, run
    assert run["status"] == "running"
    return await finished(mesh, who, name, run["id"])


async def prepared(mesh: EvalMesh, test_set: dict[str, Any], name: str = "capitals") -> Member:
    owner = await member(mesh.pool, await new_team(mesh.pool), Role.OWNER)
    status, saved = await call(mesh, "POST", "/api/v1/prompts", owner, capital_prompt(name))
    assert status == 200, saved
    status, put = await call(mesh, "PUT", f"/api/v1/prompts/{name}/test-set", owner, test_set)
    assert status == 200, put
    return owner


def expected_price() -> Decimal:
    """What the maintained prices say one stand-in call costs (the team has no overrides)."""
    usage = Usage(input_tokens=1000, output_tokens=200)
    return maintained_price_source().price("openai", "gpt-4o-mini-2024-07-18", usage, datetime.now(UTC)).total


async def test_a_run_renders_calls_prices_and_judges_every_case(eval_mesh: EvalMesh) -> None:
    """Each case is rendered with its variables and sent (model, messages, config, key) to the model
    API; the run finishes passed with every case's output, latency, tokens and the team's price, and
    the test set and the run's start are audited."""
    cases = [
        {
            "id": "france",
            "variables": {"country": "France"},
            "assertions": [
                {"type": "contains", "value": "capital of france", "ignore_case": True},
                {"type": "max_cost_usd", "value": 1},
                {"type": "max_latency_ms", "value": 60000},
            ],
        },
        {
            "id": "json",
            "variables": {"country": "JSON land"},
            "assertions": [
                {"type": "json_schema", "schema": {"type": "object", "required": ["answer"]}},
                {"type": "regex", "pattern": '"answer": \\d+'},
                {"type": "not_contains", "value": "Echo"},
            ],
        },
    ]
    owner = await prepared(eval_mesh, {"cases": cases, "min_pass_rate": 1})
    status, test_set = await call(eval_mesh, "GET", "/api/v1/prompts/capitals/test-set", owner)
    assert status == 200
    assert test_set["revision"] == 1
    assert [c["id"] for c in test_set["test_set"]["cases"]] == ["france", "json"]

    run = await evaluate(eval_mesh, owner, "capitals", 1)

    assert (run["status"], run["passed"], run["pass_rate"], run["model"]) == (
        "finished",
        True,
        1.0,
        "gpt-4o-mini",
    )
    by_id = {c["case_id"]: c for c in run["cases"]}
    assert by_id["france"]["output"] == "Echo: Capital of France"
    assert by_id["json"]["output"] == '{"answer": 42}'
    price = expected_price()
    for case in run["cases"]:
        assert case["passed"], case
        assert Decimal(case["cost_usd"]) == price
        assert (case["input_tokens"], case["output_tokens"]) == (1000, 200)
        assert case["latency_ms"] > 0
        assert all(a["passed"] for a in case["assertions"])
    assert Decimal(run["cost_usd"]) == 2 * price
    sent = eval_mesh.model_api.calls_with("Capital of France")[-1]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["temperature"] == 0.2
    assert sent.body["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France"},
    ]
    status, listed = await call(eval_mesh, "GET", "/api/v1/prompts/capitals/evaluations", owner)
    assert status == 200
    assert [(r["id"], r["status"]) for r in listed["items"]] == [(run["id"], "finished")]
    actions = await audit_actions(eval_mesh.pool, owner.team_id)
    assert {"prompts.test_set", "prompts.evaluation_start"} <= set(actions)


async def test_a_failing_case_fails_alone_with_its_reasons(eval_mesh: EvalMesh) -> None:
    """An unmet assertion, a provider error and a variable that does not render each fail their own
    case with a reason; the other case passes; the pass rate under the minimum fails the run."""
    cases = [
        {"id": "ok", "variables": {"country": "Peru"}, "assertions": [{"type": "contains", "value": "Peru"}]},
        {
            "id": "wrong",
            "variables": {"country": "Chile"},
            "assertions": [{"type": "contains", "value": "Santiago"}, {"type": "max_cost_usd", "value": 0}],
        },
        {
            "id": "provider",
            "variables": {"country": "FAIL"},
            "assertions": [{"type": "contains", "value": "x"}],
        },
        {"id": "unrendered", "variables": {}, "assertions": [{"type": "contains", "value": "x"}]},
    ]
    owner = await prepared(eval_mesh, {"cases": cases, "min_pass_rate": 0.5})
    calls_before = len(eval_mesh.model_api.calls)
    run = await evaluate(eval_mesh, owner, "capitals", 1)
    assert (run["status"], run["passed"], run["pass_rate"]) == ("finished", False, 0.25)
    by_id = {c["case_id"]: c for c in run["cases"]}
    assert by_id["ok"]["passed"] is True
    wrong = {a["type"]: a for a in by_id["wrong"]["assertions"]}
    assert wrong["contains"]["passed"] is False
    assert "does not contain 'Santiago'" in wrong["contains"]["reason"]
    assert wrong["max_cost_usd"]["passed"] is False
    assert by_id["provider"]["passed"] is False
    assert "500: the stand-in failed on purpose" in by_id["provider"]["error"]
    assert by_id["unrendered"]["passed"] is False
    assert by_id["unrendered"]["error"].startswith("rendering failed")
    assert "country" in by_id["unrendered"]["error"]
    # Three calls were made (ok, wrong, provider): a case that does not render calls nothing.
    assert len(eval_mesh.model_api.calls) - calls_before == 3


async def test_the_gate_needs_a_passing_run_of_the_very_version(eval_mesh: EvalMesh) -> None:
    """With `require_passing_evaluation`, moving production is 409 naming the missing run, then the
    failing run by id; a passing run of another version lets that version through, not this one."""
    cases = [
        {"id": "a", "variables": {"country": "Spain"}, "assertions": [{"type": "contains", "value": "Brief"}]}
    ]
    owner = await prepared(eval_mesh, {"cases": cases})
    status, policy = await call(
        eval_mesh,
        "PUT",
        "/api/v1/prompts/-/policy",
        owner,
        {
            "protected_labels": ["production"],
            "require_second_approver": False,
            "require_passing_evaluation": True,
        },
    )
    assert status == 200, policy

    status, refused = await call(
        eval_mesh, "PUT", "/api/v1/prompts/capitals/labels/production", owner, {"version": 1}
    )
    assert status == 409, refused
    (detail,) = [d for d in refused["error"]["details"] if d["type"] == "evaluation_required"]
    assert detail["run_id"] is None
    assert "POST /api/v1/prompts/capitals/evaluations" in detail["message"]

    failed = await evaluate(eval_mesh, owner, "capitals", 1)
    assert failed["passed"] is False
    status, refused = await call(
        eval_mesh, "PUT", "/api/v1/prompts/capitals/labels/production", owner, {"version": 1}
    )
    assert status == 409, refused
    (detail,) = [d for d in refused["error"]["details"] if d["type"] == "evaluation_failed"]
    assert detail["run_id"] == failed["id"]
    assert failed["id"] in refused["error"]["message"]

    # A version 2, and a test set it passes (the stand-in echoes the question).
    status, saved = await call(
        eval_mesh, "POST", "/api/v1/prompts", owner, capital_prompt("capitals", "Be brief, one word.")
    )
    assert status == 200, saved
    assert saved["prompt"]["version"] == 2
    passing = {
        "cases": [
            {
                "id": "a",
                "variables": {"country": "Spain"},
                "assertions": [{"type": "contains", "value": "Spain"}],
            }
        ]
    }
    status, put = await call(eval_mesh, "PUT", "/api/v1/prompts/capitals/test-set", owner, passing)
    assert status == 200, put
    assert put["revision"] == 2
    passed = await evaluate(eval_mesh, owner, "capitals", 2)
    assert passed["passed"] is True

    status, moved = await call(
        eval_mesh, "PUT", "/api/v1/prompts/capitals/labels/production", owner, {"version": 2}
    )
    assert status == 200, moved
    assert moved["to_version"] == 2
    # v1's newest run still failed: a rollback to it is refused by the same gate.
    status, refused = await call(
        eval_mesh, "PUT", "/api/v1/prompts/capitals/labels/production", owner, {"version": 1}
    )
    assert status == 409, refused
    actions = await audit_actions(eval_mesh.pool, owner.team_id)
    assert actions.count("prompts.label_move_refused") == 3
    assert actions.count("prompts.label_move") == 1


async def test_bad_test_sets_and_missing_pieces_are_precise_4xx(eval_mesh: EvalMesh) -> None:
    """A pattern that does not compile and a schema that is not one are 422 naming the case; a run
    without a test set is 409, of an unknown version 404, without a model 422; an unknown run 404."""
    owner = await member(eval_mesh.pool, await new_team(eval_mesh.pool), Role.OWNER)
    no_model = {**capital_prompt("plain"), "config": {}}
    status, _ = await call(eval_mesh, "POST", "/api/v1/prompts", owner, no_model)
    assert status == 200
    status, answer = await call(eval_mesh, "POST", "/api/v1/prompts/plain/evaluations", owner, {"version": 1})
    assert status == 409, answer
    assert answer["error"]["details"][0]["type"] == "test_set_missing"
    bad_regex = {"cases": [{"id": "a", "assertions": [{"type": "regex", "pattern": "("}]}]}
    status, answer = await call(eval_mesh, "PUT", "/api/v1/prompts/plain/test-set", owner, bad_regex)
    assert status == 422, answer
    assert answer["error"]["details"][0]["loc"].startswith("cases.0.assertions.0")
    bad_schema = {"cases": [{"id": "a", "assertions": [{"type": "json_schema", "schema": {"type": 7}}]}]}
    status, answer = await call(eval_mesh, "PUT", "/api/v1/prompts/plain/test-set", owner, bad_schema)
    assert status == 422, answer
    repeated = {"cases": [{"id": "a", "assertions": [{"type": "contains", "value": "x"}]}] * 2}
    status, answer = await call(eval_mesh, "PUT", "/api/v1/prompts/plain/test-set", owner, repeated)
    assert status == 422, answer
    status, answer = await call(eval_mesh, "GET", "/api/v1/prompts/plain/test-set", owner)
    assert status == 404, answer
    good = {
        "cases": [
            {
                "id": "a",
                "variables": {"country": "Peru"},
                "assertions": [{"type": "contains", "value": "Peru"}],
            }
        ]
    }
    status, _ = await call(eval_mesh, "PUT", "/api/v1/prompts/plain/test-set", owner, good)
    assert status == 200
    status, answer = await call(eval_mesh, "POST", "/api/v1/prompts/plain/evaluations", owner, {"version": 1})
    assert status == 422, answer
    assert answer["error"]["details"][0]["type"] == "model_missing"
    status, answer = await call(eval_mesh, "POST", "/api/v1/prompts/plain/evaluations", owner, {"version": 9})
    assert status == 404, answer
    status, answer = await call(eval_mesh, "GET", f"/api/v1/prompts/plain/evaluations/{uuid.uuid4()}", owner)
    assert status == 404, answer
    status, answer = await call(eval_mesh, "GET", "/api/v1/prompts/plain/evaluations/not-a-run", owner)
    assert status == 422, answer
    # A viewer reads but cannot change the test set or run evaluations.
    viewer = await member(eval_mesh.pool, owner.team_id, Role.VIEWER)
    status, _ = await call(eval_mesh, "GET", "/api/v1/prompts/plain/test-set", viewer)
    assert status == 200
    status, _ = await call(eval_mesh, "PUT", "/api/v1/prompts/plain/test-set", viewer, good)
    assert status == 403
    status, _ = await call(
        eval_mesh, "POST", "/api/v1/prompts/plain/evaluations", viewer, {"version": 1, "model": "gpt-4o-mini"}
    )
    assert status == 403


async def test_a_run_past_its_deadline_is_failed_when_read(eval_mesh: EvalMesh) -> None:
    """A run whose agent stopped mid-run (still `running` past its deadline) reads as failed with
    the reason, and is no outcome for the gate."""
    cases = [
        {"id": "a", "variables": {"country": "Peru"}, "assertions": [{"type": "contains", "value": "Peru"}]}
    ]
    owner = await prepared(eval_mesh, {"cases": cases})
    async with eval_mesh.pool.acquire() as conn:
        prompt_id = await conn.fetchval(
            "SELECT id::text FROM learning.prompts WHERE team_id = $1::uuid AND name = 'capitals'",
            owner.team_id,
        )
        orphan = await evaluation_store.start_run(
            conn,
            owner.team_id,
            prompt_id,
            1,
            model="gpt-4o-mini",
            min_pass_rate=1.0,
            cases_total=1,
            test_set_revision=1,
            started_by=owner.user_id,
            deadline_seconds=0,
        )
    run = await finished(eval_mesh, owner, "capitals", orphan.id)
    assert run["status"] == "failed"
    assert run["passed"] is None
    assert run["error"] == evaluation_store.INTERRUPTED
