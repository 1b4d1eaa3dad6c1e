"""The prompt API end to end: the session's real mesh (the edge and the LearningAgent as processes,
real NATS and PostgreSQL), called over HTTP with API keys of people of new teams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.super_agent.routes.prompts import PROMPT_READ_TTL_SECONDS, PROMPT_ROUTES
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.envelope import Principal
from shared.messages.permissions import Role
from shared.messages.prompts import SavePrompt, SavePromptRequest
from shared.messages.registry import PROMPT_SAVE
from tests.fixtures.mesh import Mesh
from tests.identity.test_teams_support import audit_actions
from tests.prompts.api_support import Member, api, member, new_team, text_prompt


@pytest.fixture
async def pool(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(postgres_dsn, min_size=1, max_size=4, command_timeout=30)
    try:
        yield found
    finally:
        await found.close()


async def save(mesh: Mesh, who: Member, document: dict[str, Any]) -> dict[str, Any]:
    status, answer, _ = await api(mesh.edge_url, "POST", "/api/v1/prompts", who, document)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


async def test_saving_unchanged_content_makes_no_new_version(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """A second save of the same content (other tags, commit message and key order) answers the
    existing version with created=false; a changed template makes version 2; both saves audited once."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    first = await save(
        mesh, owner, text_prompt("greet", "Hello {{ who }}", variables={"who": {"type": "string"}})
    )
    assert first["created"] is True
    assert first["prompt"]["version"] == 1
    assert first["prompt"]["labels"] == ["latest"]
    assert first["prompt"]["author"] == owner.user_id
    again = await save(
        mesh,
        owner,
        {
            "variables": {"who": {"type": "string"}},
            "template": "Hello {{ who }}",
            "type": "text",
            "name": "greet",
            "tags": ["onboarding"],
            "commit_message": "no content change",
        },
    )
    assert again["created"] is False
    assert again["prompt"]["version"] == 1
    assert again["prompt"]["content_hash"] == first["prompt"]["content_hash"]
    # Tags are the prompt's (each save sets them), not content.
    status, listed, _ = await api(
        mesh.edge_url, "GET", "/api/v1/prompts", owner, params={"tag": "onboarding"}
    )
    assert status == 200
    assert [(p["name"], p["labels"]) for p in listed["items"]] == [("greet", {"latest": 1})]
    changed = await save(
        mesh, owner, text_prompt("greet", "Hi {{ who }}", variables={"who": {"type": "string"}})
    )
    assert changed["created"] is True
    assert changed["prompt"]["version"] == 2
    status, versions, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/greet/versions", owner)
    assert status == 200
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert (await audit_actions(pool, owner.team_id)).count("prompts.save") == 2


async def test_an_invalid_document_is_a_422_naming_every_problem(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """An undeclared variable and a bad config value are both reported, typed, in one 422; nothing
    is saved."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    status, answer, _ = await api(
        mesh.edge_url,
        "POST",
        "/api/v1/prompts",
        owner,
        text_prompt("bad", "{{ nobody }}", config={"temperature": 9}),
    )
    assert status == 422, answer
    types = {d["type"] for d in answer["error"]["details"]}
    assert {"undeclared_variable", "invalid_config"} <= types
    status, _, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/bad", owner)
    assert status == 404


async def test_get_by_label_or_version_with_etag_and_304(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """GET answers an ETag; If-None-Match with it is 304 with no body until a label move changes the
    answer; version and label select what is read; an unknown label is 404."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await save(mesh, owner, text_prompt("faq", "v1"))
    await save(mesh, owner, text_prompt("faq", "v2"))
    status, latest, headers = await api(mesh.edge_url, "GET", "/api/v1/prompts/faq", owner)
    assert status == 200
    assert latest["version"] == 2
    assert latest["document"]["template"] == "v2"
    etag = headers["ETag"]
    status, body, again = await api(
        mesh.edge_url, "GET", "/api/v1/prompts/faq", owner, headers={"If-None-Match": etag}
    )
    assert status == 304
    assert body is None
    assert again["ETag"] == etag
    status, old, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/faq", owner, params={"version": "1"})
    assert status == 200
    assert old["document"]["template"] == "v1"
    status, _, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/faq", owner, params={"label": "staging"})
    assert status == 404
    status, _, _ = await api(
        mesh.edge_url, "PUT", "/api/v1/prompts/faq/labels/staging", owner, {"version": 2}
    )
    assert status == 200
    status, moved, headers = await api(
        mesh.edge_url, "GET", "/api/v1/prompts/faq", owner, headers={"If-None-Match": etag}
    )
    assert status == 200
    assert moved["labels"] == ["latest", "staging"]
    assert headers["ETag"] != etag
    status, staged, _ = await api(
        mesh.edge_url, "GET", "/api/v1/prompts/faq", owner, params={"label": "staging"}
    )
    assert status == 200
    assert staged["version"] == 2


async def test_two_concurrent_moves_one_wins_the_other_is_stale(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """Two moves of one label from the version both saw, at once: one 200, one 409 `stale`; the label
    is on the winner's version, one move is in the history, and the refusal is in the audit log."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    for text in ("a", "b", "c"):
        await save(mesh, owner, text_prompt("race", text))
    status, _, _ = await api(
        mesh.edge_url, "PUT", "/api/v1/prompts/race/labels/staging", owner, {"version": 1}
    )
    assert status == 200
    for _ in range(3):
        status, current, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/race/versions", owner)
        expected = current["labels"]["staging"]
        targets = [v for v in (1, 2, 3) if v != expected]
        answers = await asyncio.gather(
            *(
                api(
                    mesh.edge_url,
                    "PUT",
                    "/api/v1/prompts/race/labels/staging",
                    owner,
                    {"version": target, "expected_version": expected, "check_expected": True},
                )
                for target in targets
            )
        )
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200, 409], answers
        [(_, won, _)] = [a for a in answers if a[0] == 200]
        [(_, lost, _)] = [a for a in answers if a[0] == 409]
        assert [d["type"] for d in lost["error"]["details"]] == ["stale"]
        status, now, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/race/versions", owner)
        assert now["labels"]["staging"] == won["to_version"]
    moves = await pool.fetchval(
        "SELECT count(*) FROM learning.prompt_label_moves WHERE team_id = $1::uuid", owner.team_id
    )
    assert moves == 4
    actions = await audit_actions(pool, owner.team_id)
    assert actions.count("prompts.label_move") == 4
    assert actions.count("prompts.label_move_refused") == 3


async def test_a_protected_label_needs_the_permission_and_a_second_approver(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """production: a member (no promote_protected) is refused 403; with the team's second-approver
    policy an owner is refused 409 approval_required, the author cannot approve, an admin's approval
    lets the owner move it; every refusal is audited."""
    team = await new_team(pool)
    owner = await member(pool, team, Role.OWNER)
    admin = await member(pool, team, Role.ADMIN)
    author = await member(pool, team, Role.MEMBER)
    await save(mesh, author, text_prompt("checkout", "Pay now"))
    label = "/api/v1/prompts/checkout/labels/production"
    status, refused, _ = await api(mesh.edge_url, "PUT", label, author, {"version": 1})
    assert status == 403
    assert refused["error"]["details"][0]["type"] == "protected_permission_missing"
    # Members move unprotected labels.
    status, _, _ = await api(
        mesh.edge_url, "PUT", "/api/v1/prompts/checkout/labels/staging", author, {"version": 1}
    )
    assert status == 200

    policy = {
        "protected_labels": ["production"],
        "require_second_approver": True,
        "require_passing_evaluation": False,
    }
    status, _, _ = await api(mesh.edge_url, "PUT", "/api/v1/prompts/-/policy", author, policy)
    assert status == 403
    status, set_to, _ = await api(mesh.edge_url, "PUT", "/api/v1/prompts/-/policy", owner, policy)
    assert status == 200
    assert set_to == policy
    status, refused, _ = await api(mesh.edge_url, "PUT", label, owner, {"version": 1})
    assert status == 409
    assert [d["type"] for d in refused["error"]["details"]] == ["approval_required"]

    approvals = "/api/v1/prompts/checkout/versions/1/approvals"
    status, _, _ = await api(mesh.edge_url, "POST", approvals, author)
    assert status == 403  # members hold no prompts:promote_protected
    status, approved, _ = await api(mesh.edge_url, "POST", approvals, admin)
    assert status == 200
    assert approved["approver"] == admin.user_id
    status, moved, _ = await api(mesh.edge_url, "PUT", label, owner, {"version": 1})
    assert status == 200, moved
    assert moved["protected"] is True
    assert moved["approved_by"] == admin.user_id

    # The owner's own version: the owner cannot approve it, and the admin cannot move it on their
    # own approval (approver is the mover).
    await save(mesh, owner, text_prompt("checkout", "Pay now, please"))
    status, refused, _ = await api(
        mesh.edge_url, "POST", "/api/v1/prompts/checkout/versions/2/approvals", owner
    )
    assert status == 409
    assert refused["error"]["details"][0]["type"] == "approver_is_author"
    status, _, _ = await api(mesh.edge_url, "POST", "/api/v1/prompts/checkout/versions/2/approvals", admin)
    assert status == 200
    status, refused, _ = await api(mesh.edge_url, "PUT", label, admin, {"version": 2})
    assert status == 409
    assert "approver_is_mover" in [d["type"] for d in refused["error"]["details"]]
    actions = await audit_actions(pool, team)
    assert actions.count("prompts.label_move_refused") == 3
    assert {"prompts.policy", "prompts.approve", "prompts.label_move"} <= set(actions)


async def test_includes_resolve_across_prompts_and_cycles_are_refused(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """A chat prompt renders a fragment included by label, with typed variables and a content hash;
    a save closing an include cycle is a 422 naming the chain; a missing or mistyped variable is a
    422 naming it; the impact of moving the fragment's label names the includer, and so does the
    move's own answer and its audit entry."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await save(
        mesh,
        owner,
        text_prompt("policy", "Refunds within {{ days }} days.", variables={"days": {"type": "integer"}}),
    )
    status, _, _ = await api(
        mesh.edge_url, "PUT", "/api/v1/prompts/policy/labels/production", owner, {"version": 1}
    )
    assert status == 200
    await save(
        mesh,
        owner,
        {
            "name": "support",
            "type": "chat",
            "variables": {"days": {"type": "integer"}, "question": {"type": "string"}},
            "includes": {"policy": {"name": "policy", "label": "production"}},
            "messages": [
                {"role": "system", "content": "{{ include.policy }}"},
                {"role": "user", "content": "{{ question }}"},
            ],
        },
    )
    render = "/api/v1/prompts/support/render"
    status, rendered, _ = await api(
        mesh.edge_url, "POST", render, owner, {"variables": {"days": 30, "question": "Hi?"}}
    )
    assert status == 200, rendered
    assert rendered["messages"][0] == {"role": "system", "content": "Refunds within 30 days."}
    assert rendered["includes"] == [
        {"path": ["policy"], "name": "policy", "version": 1, "label": "production", "pinned_version": None}
    ]
    assert rendered["content_hash"].startswith("sha256:")
    status, again, _ = await api(
        mesh.edge_url, "POST", render, owner, {"variables": {"days": 30, "question": "Hi?"}}
    )
    assert again["content_hash"] == rendered["content_hash"]

    status, refused, _ = await api(mesh.edge_url, "POST", render, owner, {"variables": {"days": "30"}})
    assert status == 422
    by_type = {d["type"]: d["names"] for d in refused["error"]["details"]}
    assert by_type == {"mistyped_variable": ["days"], "missing_variable": ["question"]}

    await save(
        mesh, owner, text_prompt("a", "A {{ include.b }}", includes={"b": {"name": "b", "label": "latest"}})
    )
    status, cycle, _ = await api(
        mesh.edge_url,
        "POST",
        "/api/v1/prompts",
        owner,
        text_prompt("b", "B {{ include.a }}", includes={"a": {"name": "a", "label": "latest"}}),
    )
    assert status == 422, cycle
    [problem] = cycle["error"]["details"]
    assert problem["type"] == "include_cycle"
    assert problem["names"] == ["b@v1", "a@v1", "b@v1"]

    status, impact, _ = await api(
        mesh.edge_url, "GET", "/api/v1/prompts/policy/labels/production/impact", owner
    )
    assert status == 200
    assert [(a["name"], a["version"], a["labels"]) for a in impact["affected"]] == [
        ("support", 1, ["latest"])
    ]
    # The move itself answers what it changed, and the audit entry names it.
    await save(
        mesh,
        owner,
        text_prompt("policy", "Refunds within {{ days }} weeks.", variables={"days": {"type": "integer"}}),
    )
    status, moved, _ = await api(
        mesh.edge_url, "PUT", "/api/v1/prompts/policy/labels/production", owner, {"version": 2}
    )
    assert status == 200, moved
    assert [(a["name"], a["version"], a["labels"]) for a in moved["affected"]] == [("support", 1, ["latest"])]
    async with pool.acquire() as conn:
        audited = await conn.fetchval(
            "SELECT after FROM super_agent.audit_entries WHERE team_id = $1::uuid"
            " AND action = 'prompts.label_move' ORDER BY seq DESC LIMIT 1",
            owner.team_id,
        )
    assert audited["affected"] == ["support@v1"]


async def test_diff_between_two_versions(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """The diff of two text versions is a unified diff and the config change is named by key."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await save(mesh, owner, text_prompt("d", "one\ntwo\n", config={"temperature": 0.2}))
    await save(mesh, owner, text_prompt("d", "one\nthree\n", config={"temperature": 0.7}))
    status, diff, _ = await api(
        mesh.edge_url, "GET", "/api/v1/prompts/d/diff", owner, params={"from_version": "1", "to_version": "2"}
    )
    assert status == 200, diff
    assert "-two" in diff["text"]
    assert "+three" in diff["text"]
    assert diff["config"] == [{"key": "temperature", "change": "changed", "old": 0.2, "new": 0.7}]


async def test_team_b_gets_404_for_team_a_prompts_on_every_route(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """Every prompt route with a name in its path, called by another team's owner with A's prompt
    name, answers 404 and leaves A's versions and labels as they were."""
    a = await member(pool, await new_team(pool), Role.OWNER)
    b = await member(pool, await new_team(pool), Role.OWNER)
    await save(mesh, a, text_prompt("secret-a", "A's words"))
    bodies = {"PUT": {"version": 1}, "POST": {}}
    values = {"name": "secret-a", "label": "latest-not", "version": "1"}
    routes = [r for r in PROMPT_ROUTES if "name" in r.path_params]
    assert len(routes) == 7
    for route in routes:
        path = route.path.format(**values)
        params = {"from_version": "1", "to_version": "1"} if path.endswith("/diff") else None
        status, answer, _ = await api(mesh.edge_url, route.method, path, b, bodies.get(route.method), params)
        assert status == 404, (route.method, route.path, answer)
        assert "A's words" not in str(answer)
    status, mine, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/secret-a/versions", a)
    assert status == 200
    assert mine["labels"] == {"latest": 1}
    status, listed, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts", b)
    assert status == 200
    assert listed["items"] == []


async def test_the_plans_prompts_limit_refuses_a_new_prompt(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """On the free plan (50 prompts), the 51st prompt of an account is 402 naming the limit; new
    versions of existing prompts are still saved."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    for i in range(50):
        await save(mesh, owner, text_prompt(f"p{i}", "x"))
    status, refused, _ = await api(mesh.edge_url, "POST", "/api/v1/prompts", owner, text_prompt("p50", "x"))
    assert status == 402, refused
    assert refused["error"]["details"][0]["limit"] == "prompts"
    assert (await save(mesh, owner, text_prompt("p0", "y")))["prompt"]["version"] == 2


async def test_a_teams_config_schema_binds_its_later_saves(mesh: Mesh, pool: asyncpg.Pool) -> None:
    """The team declares a JSON Schema for prompt configs: a save outside it is a 422 naming the
    violation, one inside it is saved; an invalid schema is refused; only a promote_protected holder
    may declare it; it is audited, per team, and dropped with null."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    someone = await member(pool, owner.team_id, Role.MEMBER)
    stranger = await member(pool, await new_team(pool), Role.OWNER)
    path = "/api/v1/prompts/-/config-schema"
    assert (await api(mesh.edge_url, "GET", path, owner))[1] == {"config_schema": None}
    schema = {
        "type": "object",
        "properties": {
            "model": {"enum": ["gpt-4o", "gpt-4o-mini"]},
            "temperature": {"type": "number", "maximum": 1},
        },
        "required": ["model"],
    }
    status, refused, _ = await api(mesh.edge_url, "PUT", path, someone, {"config_schema": schema})
    assert status == 403, refused
    status, refused, _ = await api(mesh.edge_url, "PUT", path, owner, {"config_schema": {"type": 5}})
    assert status == 422, refused
    assert refused["error"]["details"][0]["type"] == "invalid_config_schema"
    status, declared, _ = await api(mesh.edge_url, "PUT", path, owner, {"config_schema": schema})
    assert status == 200, declared
    assert (await api(mesh.edge_url, "GET", path, someone))[1] == {"config_schema": schema}
    assert (await api(mesh.edge_url, "GET", path, stranger))[1] == {"config_schema": None}

    outside = text_prompt("tuned", "Hi", config={"model": "gpt-5", "temperature": 1.5})
    status, refused, _ = await api(mesh.edge_url, "POST", "/api/v1/prompts", someone, outside)
    assert status == 422, refused
    said = " ".join(d["message"] for d in refused["error"]["details"])
    assert "gpt-5" in said
    assert "1.5" in said
    await save(mesh, someone, text_prompt("tuned", "Hi", config={"model": "gpt-4o", "temperature": 0.2}))
    # Another team's saves are not bound by it.
    await save(mesh, stranger, outside)

    status, dropped, _ = await api(mesh.edge_url, "PUT", path, owner, {"config_schema": None})
    assert (status, dropped) == (200, {"config_schema": None})
    await save(mesh, someone, outside)
    assert (await audit_actions(pool, owner.team_id)).count("prompts.config_schema") == 2


async def edge_cache_hits(mesh: Mesh) -> float:
    url = f"{mesh.agents[AgentName.SUPER_AGENT].metrics_url}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mno_edge_cache_total" and sample.labels == {
                "cache": "prompt_reads",
                "outcome": "hit",
            }:
                return sample.value
    return 0.0


async def test_prompt_reads_are_kept_at_the_edge_until_the_learning_agent_announces_a_change(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """A repeated read is answered by the edge without asking the LearningAgent; a change made past
    this edge (straight to the agent, as the GitHub sync or another replica does) reaches readers
    through the agent's notice, well before the cache's expiry."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await save(mesh, owner, text_prompt("cached", "one"))
    path = "/api/v1/prompts/cached?label=latest"
    assert (await api(mesh.edge_url, "GET", path, owner))[1]["version"] == 1
    hits = await edge_cache_hits(mesh)
    assert (await api(mesh.edge_url, "GET", path, owner))[1]["version"] == 1
    assert await edge_cache_hits(mesh) == hits + 1

    client = await nats.connect(mesh.launcher.nats_url)
    try:
        writer = Principal(team_id=owner.team_id, user_id=owner.user_id, roles=("owner",))
        await Bus(client, source="test", request_timeout=15).request(
            PROMPT_SAVE,
            SavePromptRequest(prompt=SavePrompt.model_validate(text_prompt("cached", "two"))),
            MessageContext(principal=writer),
        )
    finally:
        await client.close()
    began = time.monotonic()
    while (await api(mesh.edge_url, "GET", path, owner))[1]["version"] != 2:
        assert time.monotonic() - began < PROMPT_READ_TTL_SECONDS / 2, "the notice never came"
        await asyncio.sleep(0.02)


async def test_a_save_nesting_includes_too_deep_is_refused_naming_the_chain(
    mesh: Mesh, pool: asyncpg.Pool
) -> None:
    """Six prompts each including the next (deeper than the limit of 5): the save of the top one is
    a 422 include_too_deep naming the chain from it; one level less is saved."""
    owner = await member(pool, await new_team(pool), Role.OWNER)
    await save(mesh, owner, text_prompt("deep6", "end"))
    for i in range(5, 0, -1):
        await save(
            mesh,
            owner,
            text_prompt(
                f"deep{i}", "{{ include.n }}", includes={"n": {"name": f"deep{i + 1}", "label": "latest"}}
            ),
        )
    status, refused, _ = await api(
        mesh.edge_url,
        "POST",
        "/api/v1/prompts",
        owner,
        text_prompt("deep0", "{{ include.n }}", includes={"n": {"name": "deep1", "label": "latest"}}),
    )
    assert status == 422, refused
    [problem] = refused["error"]["details"]
    assert problem["type"] == "include_too_deep"
    assert problem["names"][0] == "deep0@v1"
    status, rendered, _ = await api(mesh.edge_url, "POST", "/api/v1/prompts/deep1/render", owner, {})
    assert (status, rendered["text"]) == (200, "end")
