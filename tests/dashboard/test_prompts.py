"""The Prompts pages in Debian's chromium and over HTTP against the session's mesh (the LearningAgent a
real process): the list and the prompt page show what `GET /api/v1/prompts/...` answers, a label moves
from the page and the promotion gate's refusal reads in words, a viewer gets no move form and a 403
for the fragment, another team gets 404 pages, and the experiment page shows the results API's
statistics."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from services.identity import sessions
from services.prompts import evaluation_store
from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, Stage, screenshot
from tests.dashboard.test_browser import (
    assert_accessible_on_laptop_and_phone,
    inline_code,
    signed_in,
    write_controls,
)
from tests.dashboard.test_packages import other_team_session
from tests.prompts.test_experiments_api import units_by_variant

SUPPORT = "dash-support"
OTHER = "dash-other"
CONTEST = "dash-contest"
MOVE = "/dashboard/prompts/labels"
APPROVE = "/dashboard/prompts/approvals"
TEMPLATES = (
    "Answer the customer briefly.",
    "Answer the customer briefly and kindly.",
    "Answer the customer in one kind line.\nSign as {{ agent }}.",
)


@dataclass(frozen=True)
class Prompted:
    experiment_id: str


@dataclass(frozen=True)
class Contest:
    won: str  # an experiment whose results suggest v2 ("kind")
    empty: str  # a running experiment without data: no winner


async def ok(stage: Stage, method: str, path: str, body: Any = None, expected: int = 200) -> Any:
    status, answer = (
        await stage.api(method, path, json=body) if body is not None else await stage.api(method, path)
    )
    assert status == expected, (method, path, status, answer)
    return answer


async def seed_runs(stage: Stage, prompt: str = SUPPORT) -> None:
    """Two finished evaluation runs of `prompt` (v1 failed, v2 passed), written by the real
    evaluation store: the session's mesh has no model API to run them against."""
    async with stage.pool.acquire() as conn:
        prompt_id = await conn.fetchval(
            "SELECT id::text FROM learning.prompts WHERE team_id = $1::uuid AND name = $2",
            stage.team.id,
            prompt,
        )
        for version, rate in ((1, 0.5), (2, 1.0)):
            run = await evaluation_store.start_run(
                conn,
                stage.team.id,
                prompt_id,
                version,
                model="gpt-4o-mini",
                min_pass_rate=0.8,
                cases_total=2,
                test_set_revision=1,
                started_by=stage.admin_id,
                deadline_seconds=600,
            )
            assert await evaluation_store.finish_run(conn, run.id, rate >= 0.8, rate, [])


async def seed_experiment(
    stage: Stage, prompt: str = SUPPORT, name: str = "kinder answers", seed: str = "dash-seed"
) -> str:
    """A running experiment over `prompt`'s v1 (control) and v2, with exposures and tagged token
    events: v2 is cheaper per request."""
    created = await ok(
        stage,
        "POST",
        "/api/v1/experiments",
        {
            "prompt": prompt,
            "name": name,
            "variants": [
                {"key": "control", "version": 1, "weight": 0.5},
                {"key": "kind", "version": 2, "weight": 0.5},
            ],
            "seed": seed,
            "guardrails": [{"metric": "latency_ms", "max_relative_increase": 5}],
        },
    )
    experiment_id: str = created["id"]
    await ok(stage, "POST", f"/api/v1/experiments/{experiment_id}/start", {})
    units = units_by_variant(seed, ["control", "kind"], 12)
    events = []
    now = datetime.now(UTC).isoformat()
    for key, unit_ids in units.items():
        for i, unit in enumerate(unit_ids):
            await ok(
                stage,
                "POST",
                f"/api/v1/experiments/{experiment_id}/exposures",
                {"unit_id": unit, "variant": key},
            )
            events.append(
                {
                    "id": f"{experiment_id[:8]}-{unit}",
                    "timestamp": now,
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": (3000 if key == "control" else 1000) + 40 * (i % 5),
                    "output_tokens": 100,
                    "latency_ms": 200.0 + 10 * (i % 4),
                    "user": unit,
                    "prompt_name": prompt,
                    "prompt_version": "1" if key == "control" else "2",
                    "tags": {"experiment": experiment_id, "variant": key, "unit": unit},
                }
            )
    status, accepted = await stage.api("POST", "/api/v1/token-events", json={"events": events})
    assert status in (200, 202), accepted
    deadline = asyncio.get_running_loop().time() + 120  # storing is asynchronous; a loaded CI core is slow
    while True:
        answer = await ok(stage, "GET", f"/api/v1/experiments/{experiment_id}/results")
        counted = [
            next((m["units"] for m in v["metrics"] if m["metric"] == "cost_per_request"), 0)
            for v in answer["variants"]
        ]
        if all(c >= 12 for c in counted):
            return experiment_id
        assert asyncio.get_running_loop().time() < deadline, answer
        await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
async def prompted(stage: Stage) -> Prompted:
    """dash-support with three versions (tag `support`; production on v1, staging on v2), a test set,
    two evaluation runs, a running experiment with data; dash-other (tag `internal`); then the policy:
    production needs a second approver and a passing evaluation."""
    for n, template in enumerate(TEMPLATES, start=1):
        extra: dict[str, Any] = {"tags": ["support"], "commit_message": f"take {n}"}
        if n == 3:
            extra |= {"variables": {"agent": {"type": "string"}}, "config": {"temperature": 0.3}}
        await ok(
            stage, "POST", "/api/v1/prompts", {"name": SUPPORT, "type": "text", "template": template, **extra}
        )
    await ok(
        stage,
        "POST",
        "/api/v1/prompts",
        {"name": OTHER, "type": "text", "template": "Hi.", "tags": ["internal"]},
    )
    await ok(stage, "PUT", f"/api/v1/prompts/{SUPPORT}/labels/production", {"version": 1})
    await ok(stage, "PUT", f"/api/v1/prompts/{SUPPORT}/labels/staging", {"version": 2})
    test_set = {
        "cases": [
            {"id": "greets", "assertions": [{"type": "contains", "value": "Hello"}]},
            {"id": "short", "assertions": [{"type": "max_latency_ms", "value": 2000}]},
        ],
        "min_pass_rate": 0.8,
    }
    await ok(stage, "PUT", f"/api/v1/prompts/{SUPPORT}/test-set", test_set)
    await seed_runs(stage)
    experiment_id = await seed_experiment(stage)
    await ok(
        stage,
        "PUT",
        "/api/v1/prompts/-/policy",
        {
            "protected_labels": ["production"],
            "require_second_approver": True,
            "require_passing_evaluation": True,
        },
    )
    return Prompted(experiment_id)


@pytest.fixture(scope="module")
async def contest(stage: Stage, prompted: Prompted) -> Contest:
    """dash-contest (no production label yet; both versions by the local admin, v2 passed its
    evaluation) under the team's policy from `prompted` (production protected, a second approver and
    a passing evaluation required), an experiment whose cheaper v2 wins and one without data."""
    for n in (1, 2):
        await ok(
            stage,
            "POST",
            "/api/v1/prompts",
            {"name": CONTEST, "type": "text", "template": f"Reply, take {n}.", "commit_message": f"try {n}"},
        )
    await seed_runs(stage, CONTEST)
    won = await seed_experiment(stage, CONTEST, "cheaper replies", "dash-contest-seed")
    results = await ok(stage, "GET", f"/api/v1/experiments/{won}/results")
    assert results["winner"] == "kind", results["winner_reason"]
    empty = await ok(
        stage,
        "POST",
        "/api/v1/experiments",
        {
            "prompt": CONTEST,
            "name": "no data yet",
            "variants": [
                {"key": "control", "version": 1, "weight": 0.5},
                {"key": "b", "version": 2, "weight": 0.5},
            ],
            "seed": "dash-contest-empty",
        },
    )
    await ok(stage, "POST", f"/api/v1/experiments/{empty['id']}/start", {})
    return Contest(won, empty["id"])


def prompt_path(name: str) -> str:
    return f"/dashboard/prompts/{name}"


async def texts(page: Page, selector: str, attribute: str) -> list[str]:
    return list(await page.locator(selector).evaluate_all(f"els => els.map(e => e.dataset.{attribute})"))


async def http(
    stage: Stage, token: str, method: str, path: str, team_id: str | None = None, **kwargs: Any
) -> tuple[int, str]:
    """One request as the person of `token` (their session cookie), in `team_id` (default the stage's)."""
    headers = {
        "Cookie": f"mno_session={token}",
        "X-MNO-Team": team_id or stage.team.id,
        **kwargs.pop("headers", {}),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{stage.edge}{path}", headers=headers, allow_redirects=False, **kwargs) as r,
    ):
        return r.status, await r.text()


async def test_prompts_list_shows_the_api_and_filters_by_tag(
    stage: Stage, prompted: Prompted, chromium: Browser
) -> None:
    """The navigation offers Prompts; the list's rows, latest versions, hashes and labels are
    `GET /api/v1/prompts`'s; a tag's link filters to the prompts with that tag."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/prompts")
    assert "Prompts" in await page.locator("nav").inner_text()
    listed = await ok(stage, "GET", "/api/v1/prompts")
    assert await texts(page, "#prompts tbody tr", "prompt") == sorted(p["name"] for p in listed["items"])
    row = page.locator(f'#prompts tr[data-prompt="{SUPPORT}"]')
    assert await row.locator("td[data-latest]").get_attribute("data-latest") == "3"
    summary = next(p for p in listed["items"] if p["name"] == SUPPORT)
    assert await row.locator("code.hash").get_attribute("title") == summary["latest_content_hash"]
    shown = await row.locator(".tag.label").evaluate_all(
        "els => els.map(e => [e.dataset.label, +e.dataset.version])"
    )
    assert sorted(map(tuple, shown)) == sorted((k, v) for k, v in summary["labels"].items() if k != "latest")
    await screenshot(page, "prompts")
    async with page.expect_navigation():
        await row.locator('a[data-tag="support"]').click()
    assert await texts(page, "#prompts tbody tr", "prompt") == [SUPPORT]
    await page.goto("/dashboard/prompts?tag=nothing-has-this")
    assert await page.locator("#prompts-none").count() == 1
    await context.close()


async def test_prompt_page_shows_versions_labels_diff_evaluations_and_experiments(
    stage: Stage, prompted: Prompted, chromium: Browser
) -> None:
    """Versions (author's login, commit message, content hash), labels with production marked
    protected, the newest two versions' diff (then v1 → v3 chosen), the test set and both runs, and
    the experiment linking to its page: all as the API answers."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(prompt_path(SUPPORT))
    versions = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions")
    shown = await page.locator("#versions tbody tr").evaluate_all(
        "els => els.map(e => [+e.dataset.version, e.dataset.hash])"
    )
    assert [tuple(s) for s in shown] == [(v["version"], v["content_hash"]) for v in versions["items"]]
    assert set(await page.locator("#versions td.author").all_inner_texts()) == {"local-admin"}
    assert "take 3" in await page.locator('#versions tr[data-version="3"]').inner_text()
    labels = await page.locator("#labels tbody tr").evaluate_all(
        "els => els.map(e => [e.dataset.label, +e.dataset.version])"
    )
    assert dict(map(tuple, labels)) == versions["labels"]
    assert await page.locator('#labels tr[data-label="production"] .mark-protected').count() == 1

    text = await page.locator("#diff-text").inner_text()
    assert "+Answer the customer in one kind line." in text
    assert "-Answer the customer briefly and kindly." in text
    assert await page.locator("#diff-text .diff-add").count() >= 1
    keys = await texts(page, "#diff-keys tbody tr", "key")
    assert keys == ["variables.agent", "config.temperature"]

    assert await page.locator("#suite dd[data-cases]").get_attribute("data-cases") == "2"
    runs = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/evaluations")
    assert await texts(page, "#runs tbody tr", "run") == [r["id"] for r in runs["items"]]
    assert sorted(await texts(page, "#runs tbody tr", "status")) == ["failed", "passed"]
    assert "100%" in await page.locator('#runs tr[data-status="passed"]').inner_text()
    assert await texts(page, "#experiments li", "experiment") == [prompted.experiment_id]
    await screenshot(page, "prompts-page")

    await page.select_option("#diff-from_version", "1")
    async with page.expect_navigation():
        await page.click("form.diff-pick button[type=submit]")
    assert "from_version=1" in page.url
    assert "v1 → v3" in await page.locator("#diff-title").inner_text()
    assert "-Answer the customer briefly." in await page.locator("#diff-text").inner_text()

    async with page.expect_navigation():
        await page.click(f'#experiments li[data-experiment="{prompted.experiment_id}"] a')
    assert page.url.endswith(f"/dashboard/experiments/{prompted.experiment_id}")
    await context.close()


async def test_a_label_moves_from_the_page_and_a_gate_refusal_reads_in_words(
    stage: Stage, prompted: Prompted, chromium: Browser
) -> None:
    """Moving staging to v3 from the page says so and the API agrees; moving production to v3 is
    refused by the gate with its reasons in words (a second approver, a passing evaluation) and
    production stays on v1."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(prompt_path(SUPPORT))
    staging = page.locator('#labels tr[data-label="staging"]')
    await staging.locator("select").select_option("3")
    await staging.locator("button[type=submit]").click()
    await page.wait_for_selector("#move-done")
    assert "staging now points at version 3 (was 2)" in await page.locator("#move-done").inner_text()
    assert await page.locator('#labels tr[data-label="staging"]').get_attribute("data-version") == "3"
    versions = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions")
    assert versions["labels"]["staging"] == 3

    production = page.locator('#labels tr[data-label="production"]')
    await production.locator("select").select_option("3")
    await production.locator("button[type=submit]").click()
    await page.wait_for_selector("#move-problem")
    problem = await page.locator("#move-problem").inner_text()
    assert problem.startswith("The label was not moved:")
    assert "approval of this version by a second person" in problem
    assert "passing evaluation run of this version is required" in problem
    versions = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions")
    assert versions["labels"]["production"] == 1
    assert await page.locator('#labels tr[data-label="production"]').get_attribute("data-version") == "1"
    await screenshot(page, "prompts-label-refused")
    await context.close()


async def test_a_viewer_sees_no_move_form_and_the_fragment_refuses_them(
    stage: Stage, prompted: Prompted
) -> None:
    """A viewer's prompt page has no label-move control (an owner's has); the viewer's POST to the
    fragment with a valid CSRF token is 403, an owner's without the token too, and the label did not
    move."""
    viewer = await stage.member(Role.VIEWER)
    status, html = await http(stage, viewer, "GET", prompt_path(SUPPORT))
    assert status == 200
    assert 'data-label="production"' in html
    assert MOVE not in write_controls(html)
    owner = await stage.member(Role.OWNER)
    status, html = await http(stage, owner, "GET", prompt_path(SUPPORT))
    assert status == 200
    assert MOVE in write_controls(html)
    status, session = await http(stage, viewer, "GET", "/api/v1/session")
    csrf = json.loads(session)["csrf_token"]
    body = {"name": SUPPORT, "label": "staging", "version": "1", "expected_version": "3"}
    status, refused = await http(
        stage, viewer, "POST", MOVE, json=body, headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    assert status == 403, refused
    status, forged = await http(stage, owner, "POST", MOVE, json=body, headers={"HX-Request": "true"})
    assert status == 403, forged  # no CSRF token: refused before the move
    versions = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions")
    assert versions["labels"]["staging"] != 1


async def test_another_team_gets_404_pages_for_the_prompt_and_the_experiment(
    stage: Stage, prompted: Prompted
) -> None:
    """A person of another team gets 404 pages naming `not_found` for dash-support's page and its
    experiment's page (nothing of either shown), and for approving its version or promoting its
    experiment's winner (nothing moves); and an empty list."""
    team_id, token = await other_team_session(stage)
    for path in (prompt_path(SUPPORT), f"/dashboard/experiments/{prompted.experiment_id}"):
        status, html = await http(stage, token, "GET", path, team_id=team_id)
        assert status == 404, path
        assert 'data-error-code="not_found"' in html
        assert "Answer the customer" not in html
        assert "kinder answers" not in html
    before = await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions")
    headers = {"X-CSRF-Token": sessions.csrf_token(token), "HX-Request": "true"}
    for path, body in (
        (APPROVE, {"name": SUPPORT, "version": "2"}),
        (f"/dashboard/experiments/{prompted.experiment_id}/promote", {"label": "canary"}),
    ):
        status, html = await http(stage, token, "POST", path, team_id=team_id, json=body, headers=headers)
        assert status == 404, (path, html)
        assert "does not exist" in html  # htmx gets the error fragment, not a page
    assert (await ok(stage, "GET", f"/api/v1/prompts/{SUPPORT}/versions"))["labels"] == before["labels"]
    status, html = await http(stage, token, "GET", "/dashboard/prompts", team_id=team_id)
    assert status == 200
    assert SUPPORT not in html
    assert 'id="prompts-empty"' in html


async def test_the_experiment_page_shows_the_results_api(
    stage: Stage, prompted: Prompted, chromium: Browser
) -> None:
    """Variants with weights and exposures, the winner, the sample-ratio check, one table per metric
    (the primary first) with the lift and significance of each variant: as the results API answers."""
    path = f"/dashboard/experiments/{prompted.experiment_id}"
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(path)
    results = await ok(stage, "GET", f"/api/v1/experiments/{prompted.experiment_id}/results")
    assert await texts(page, "#variants tbody tr", "variant") == [v["key"] for v in results["variants"]]
    exposures = await page.locator("#variants tbody tr td:nth-child(4)").all_inner_texts()
    assert exposures == [str(v["exposures"]) for v in results["variants"]]
    assert await page.locator("#winner").get_attribute("data-winner") == (results["winner"] or "")
    assert results["winner_reason"] in await page.locator("#winner").inner_text()
    mismatch = await page.locator("#sample-ratio").get_attribute("data-mismatch")
    assert mismatch == ("true" if results["sample_ratio"]["mismatch"] else "false")
    metrics = await texts(page, "table.metric", "metric")
    assert metrics[0] == results["experiment"]["primary_metric"]
    assert set(metrics) == {m["metric"] for v in results["variants"] for m in v["metrics"]}
    kind = next(v for v in results["variants"] if v["key"] == "kind")
    cost = next(c for c in kind["comparisons"] if c["metric"] == "cost_per_request")
    row = page.locator('table.metric[data-metric="cost_per_request"] tr[data-variant="kind"]')
    assert await row.get_attribute("data-significant") == ("true" if cost["significant"] else "false")
    assert f"{cost['relative_lift'] * 100:+.1f}%" in await row.inner_text()
    assert await texts(page, "#guardrails tbody tr", "variant") == ["kind"]
    await screenshot(page, "prompts-experiment")
    await context.close()


async def test_the_experiment_page_draws_each_metric_with_its_intervals_beside_its_table(
    stage: Stage, prompted: Prompted, chromium: Browser
) -> None:
    """Each metric's table has a chart above it that ECharts drew (a canvas in its container), whose
    embedded data names every variant of the table with the API's estimate and 95% interval."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(f"/dashboard/experiments/{prompted.experiment_id}")
    results = await ok(stage, "GET", f"/api/v1/experiments/{prompted.experiment_id}/results")
    metrics = await texts(page, "table.metric", "metric")
    assert metrics
    assert await texts(page, ".metric-chart", "metric") == metrics
    for metric in metrics:
        chart = page.locator(f'.metric-chart[data-metric="{metric}"]')
        await chart.locator("canvas").first.wait_for()
        assert await chart.get_attribute("data-drawn") == "true"
        spec = json.loads(await chart.get_attribute("data-chart") or "{}")
        rows = await texts(page, f'table.metric[data-metric="{metric}"] tbody tr', "variant")
        assert spec["labels"] == rows
        given = {
            v["key"]: next(m for m in v["metrics"] if m["metric"] == metric)
            for v in results["variants"]
            if any(m["metric"] == metric for m in v["metrics"])
        }
        assert set(spec["labels"]) == set(given)
        if spec["unit"] != "percent":
            assert spec["estimates"] == [given[k]["estimate"] for k in spec["labels"]]
            assert spec["lows"] == [given[k]["interval"]["low"] for k in spec["labels"]]
            assert spec["highs"] == [given[k]["interval"]["high"] for k in spec["labels"]]
    await screenshot(page, "prompts-experiment-charts")
    await context.close()


async def test_a_second_person_approves_from_the_page_and_the_winner_is_promoted_to_production(
    stage: Stage, contest: Contest, chromium: Browser
) -> None:
    """The author's own approval reads as a refusal in words and the winner's promotion to the
    protected production label is refused for want of it; a second person (an admin) approves v2 from
    the prompt page, after which the author promotes the winner from the experiment page and
    production points at the winner's version."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(prompt_path(CONTEST))
    await page.locator('#versions tr[data-version="2"] form.approve-version button').click()
    await page.wait_for_selector("#move-problem")
    own = await page.locator("#move-problem").inner_text()
    assert own == (
        "The version was not approved: the approval is by the version's author; another person must approve."
    )

    experiment = f"/dashboard/experiments/{contest.won}"
    await page.goto(experiment)
    assert await page.locator("#winner").get_attribute("data-winner") == "kind"
    assert await page.locator("#promote-label").input_value() == "production"
    await page.click("form.promote-winner button[type=submit]")
    await page.wait_for_selector("#promote-problem")
    refused = await page.locator("#promote-problem").inner_text()
    assert refused.startswith("The label was not moved:")
    assert "approval of this version by a second person" in refused
    versions = await ok(stage, "GET", f"/api/v1/prompts/{CONTEST}/versions")
    assert "production" not in versions["labels"]

    second = await stage.context(chromium, session_token=await stage.member(Role.ADMIN), viewport=LAPTOP)
    await second.add_cookies([{"name": "mno_team", "value": stage.team.id, "url": stage.edge}])
    approver = await second.new_page()
    await approver.goto(prompt_path(CONTEST))
    await approver.locator('#versions tr[data-version="2"] form.approve-version button').click()
    await approver.wait_for_selector("#move-done")
    said = await approver.locator("#move-done").inner_text()
    assert said.startswith(f"Version 2 of {CONTEST} is approved by admin-"), said
    await second.close()

    await page.goto(experiment)
    await page.click("form.promote-winner button[type=submit]")
    await page.wait_for_selector("#promote-done")
    done = await page.locator("#promote-done").inner_text()
    assert done == f"Promoted kind (version 2) of {CONTEST}: production now points at version 2."
    versions = await ok(stage, "GET", f"/api/v1/prompts/{CONTEST}/versions")
    assert versions["labels"]["production"] == 2
    await screenshot(page, "prompts-experiment-promoted")
    await context.close()


async def test_without_a_winner_a_promotion_reads_in_words_and_a_viewer_is_refused(
    stage: Stage, contest: Contest
) -> None:
    """An experiment without data offers no promote form and its fragment says in words that the
    results suggest no winner (nothing moves); a viewer sees neither the promote nor the approve
    control and both fragments answer them 403; an owner sees both."""
    owner = await stage.member(Role.OWNER)
    status, html = await http(stage, owner, "GET", f"/dashboard/experiments/{contest.empty}")
    assert status == 200
    assert 'data-winner=""' in html
    assert "/promote" not in " ".join(write_controls(html))
    headers = {"X-CSRF-Token": sessions.csrf_token(owner), "HX-Request": "true"}
    before = await ok(stage, "GET", f"/api/v1/prompts/{CONTEST}/versions")
    status, answer = await http(
        stage, owner, "POST", f"/dashboard/experiments/{contest.empty}/promote", json={}, headers=headers
    )
    assert status == 200, answer
    assert 'id="promote-problem"' in answer
    assert "Nothing was promoted: the results suggest no winner (" in answer
    assert (await ok(stage, "GET", f"/api/v1/prompts/{CONTEST}/versions"))["labels"] == before["labels"]

    status, html = await http(stage, owner, "GET", f"/dashboard/experiments/{contest.won}")
    assert f"/dashboard/experiments/{contest.won}/promote" in write_controls(html)
    status, html = await http(stage, owner, "GET", prompt_path(CONTEST))
    assert APPROVE in write_controls(html)
    viewer = await stage.member(Role.VIEWER)
    for path, needle in (
        (f"/dashboard/experiments/{contest.won}", "/promote"),
        (prompt_path(CONTEST), APPROVE),
    ):
        status, html = await http(stage, viewer, "GET", path)
        assert status == 200, path
        assert needle not in " ".join(write_controls(html)), path
    headers = {"X-CSRF-Token": sessions.csrf_token(viewer), "HX-Request": "true"}
    for path, body in (
        (f"/dashboard/experiments/{contest.won}/promote", {"label": "canary"}),
        (APPROVE, {"name": CONTEST, "version": "1"}),
    ):
        status, refused = await http(stage, viewer, "POST", path, json=body, headers=headers)
        assert status == 403, (path, refused)
    assert "canary" not in (await ok(stage, "GET", f"/api/v1/prompts/{CONTEST}/versions"))["labels"]


async def test_prompts_pages_carry_the_csp_and_have_no_serious_axe_finding(
    stage: Stage, prompted: Prompted, chromium: Browser, axe_source: str
) -> None:
    """The list, prompt and experiment pages have a CSP without 'unsafe-inline' and no inline script
    or style; axe-core finds nothing serious or critical on a laptop and a phone, and no page
    scrolls sideways on the phone."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    paths = ["/dashboard/prompts", prompt_path(SUPPORT), f"/dashboard/experiments/{prompted.experiment_id}"]
    for path in paths:
        response = await context.request.get(path, headers={"X-MNO-Team": stage.team.id})
        assert response.status == 200, path
        assert "unsafe-inline" not in response.headers["content-security-policy"], path
        assert inline_code(await response.text()) == (0, [], 0, 0), path
    for path in paths:
        await assert_accessible_on_laptop_and_phone(page, path, axe_source)
        await screenshot(page, f"prompts-{('list', 'page', 'experiment')[paths.index(path)]}-phone")
    await context.close()
