"""The prompt editor in Debian's chromium and over HTTP against the session's mesh (the LearningAgent a
real process): the render API renders an unsaved draft and saves nothing; the editor saves a version
(unchanged content says so), its preview names a missing variable under its field; a viewer gets no
editor and 403 fragments, another team 404s; the prompt page's pull-request button says the API's
refusal in words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser

from shared.messages.permissions import Role
from tests.dashboard.conftest import LAPTOP, Stage, screenshot
from tests.dashboard.test_browser import (
    assert_accessible_on_laptop_and_phone,
    inline_code,
    signed_in,
    write_controls,
)
from tests.dashboard.test_packages import other_team_session
from tests.dashboard.test_prompts import http, ok

NAME = "dash-editor"
LOOP = "dash-editor-loop"  # includes dash-editor: a draft of dash-editor including it is a cycle
EDIT = f"/dashboard/prompts/{NAME}/edit"
PREVIEW = "/dashboard/prompts/editor/preview"
SAVE = "/dashboard/prompts/editor/save"
PULL_REQUEST = "/dashboard/prompts/pull-request"


@pytest.fixture(scope="module")
async def edited(stage: Stage) -> Stage:
    """dash-editor v1 (a required string `agent`), and dash-editor-loop including dash-editor."""
    await ok(
        stage,
        "POST",
        "/api/v1/prompts",
        {
            "name": NAME,
            "type": "text",
            "template": "Hello from {{ agent }}.",
            "variables": {"agent": {"type": "string", "required": True}},
            "tags": ["support"],
        },
    )
    await ok(
        stage,
        "POST",
        "/api/v1/prompts",
        {
            "name": LOOP,
            "type": "text",
            "template": "{{ include.inner }}",
            "includes": {"inner": {"name": NAME, "label": "latest"}},
        },
    )
    return stage


def form(template: str, sample: str, **extra: str) -> dict[str, str]:
    """The editor's fields as htmx's json-enc sends them."""
    return {
        "name": NAME,
        "type": "text",
        "template": template,
        "tags": "support",
        "var_name_0": "agent",
        "var_type_0": "string",
        "var_required_0": "on",
        "var_sample_0": sample,
        "var_name_1": "",
        "var_type_1": "string",
        **extra,
    }


async def csrf_of(stage: Stage, token: str, team_id: str | None = None) -> dict[str, str]:
    status, session = await http(stage, token, "GET", "/api/v1/session", team_id=team_id)
    assert status == 200, session
    return {"X-CSRF-Token": json.loads(session)["csrf_token"], "HX-Request": "true"}


async def latest(stage: Stage) -> int:
    versions = await ok(stage, "GET", f"/api/v1/prompts/{NAME}/versions")
    number: int = versions["labels"]["latest"]
    return number


async def test_the_render_api_renders_an_unsaved_draft_and_saves_nothing(edited: Stage) -> None:
    """`document` on the render route renders that content as the next version (nothing saved);
    a draft that includes a prompt including it is refused as an include cycle; a draft named
    otherwise than the path is a 422."""
    before = await latest(edited)
    draft: dict[str, Any] = {
        "name": NAME,
        "type": "text",
        "template": "Hi from {{ agent }}!",
        "variables": {"agent": {"type": "string"}},
    }
    path = f"/api/v1/prompts/{NAME}/render"
    rendered = await ok(edited, "POST", path, {"variables": {"agent": "Ada"}, "document": draft})
    assert (rendered["text"], rendered["version"]) == ("Hi from Ada!", before + 1)
    assert await latest(edited) == before
    looped = draft | {
        "template": "{{ include.outer }}",
        "includes": {"outer": {"name": LOOP, "label": "latest"}},
    }
    status, refused = await edited.api("POST", path, json={"variables": {"agent": "Ada"}, "document": looped})
    assert status == 422, refused
    assert "include_cycle" in [d["type"] for d in refused["error"]["details"]], refused
    status, misnamed = await edited.api("POST", path, json={"document": draft | {"name": LOOP}})
    assert status == 422, misnamed


async def test_saving_from_the_editor_makes_a_version_and_unchanged_content_says_so(edited: Stage) -> None:
    """The Save fragment creates the next version with its commit message (the API agrees); the same
    content again makes none and says which version it is."""
    owner = await edited.member(Role.OWNER)
    headers = await csrf_of(edited, owner)
    before = await latest(edited)
    body = form("Hello from {{ agent }}, kindly.", "Ada", commit_message="kinder")
    status, html = await http(edited, owner, "POST", SAVE, json=body, headers=headers)
    assert status == 200, html
    assert 'id="editor-saved"' in html
    assert f'data-version="{before + 1}"' in html
    found = await ok(edited, "GET", f"/api/v1/prompts/{NAME}")
    assert (found["version"], found["commit_message"]) == (before + 1, "kinder")
    assert found["document"]["template"] == "Hello from {{ agent }}, kindly."
    status, html = await http(edited, owner, "POST", SAVE, json=body, headers=headers)
    assert status == 200, html
    assert 'id="editor-unchanged"' in html
    assert f"the content is version {before + 1}" in html
    assert await latest(edited) == before + 1


async def test_the_preview_names_a_missing_variable_under_its_field(edited: Stage) -> None:
    """Without a sample for the required `agent` the preview renders nothing and says `agent` is
    required in that variable's slot; with one it shows the rendered text; a mistyped default is
    named too."""
    owner = await edited.member(Role.OWNER)
    headers = await csrf_of(edited, owner)
    status, html = await http(
        edited, owner, "POST", PREVIEW, json=form("Hi {{ agent }}.", ""), headers=headers
    )
    assert status == 200, html
    assert 'id="editor-rendered"' not in html
    slot = html.split('id="slot-var-0"', 1)[1].split("</div>", 1)[0]
    assert "`agent` (string) is required" in slot, html
    status, html = await http(
        edited, owner, "POST", PREVIEW, json=form("Hi {{ agent }}.", "Ada"), headers=headers
    )
    assert status == 200, html
    assert '<pre class="rendered" id="rendered-text">Hi Ada.</pre>' in html
    assert '<p class="field-error"' not in html


async def test_a_viewer_gets_no_editor_and_the_fragments_refuse_them(edited: Stage) -> None:
    """A viewer's prompt page has no editor link, the editor page is 403, and the preview, save and
    pull-request fragments are 403 with a valid CSRF token; an owner's without the token too; no
    version was made."""
    viewer = await edited.member(Role.VIEWER)
    status, html = await http(edited, viewer, "GET", f"/dashboard/prompts/{NAME}")
    assert status == 200
    assert EDIT not in html
    assert PULL_REQUEST not in write_controls(html)
    status, _ = await http(edited, viewer, "GET", EDIT)
    assert status == 403
    before = await latest(edited)
    headers = await csrf_of(edited, viewer)
    body = form("Viewer's {{ agent }}.", "Ada")
    for path, sent in ((PREVIEW, body), (SAVE, body), (PULL_REQUEST, {"name": NAME})):
        status, refused = await http(edited, viewer, "POST", path, json=sent, headers=headers)
        assert status == 403, (path, refused)
    owner = await edited.member(Role.OWNER)
    status, forged = await http(edited, owner, "POST", SAVE, json=body, headers={"HX-Request": "true"})
    assert status == 403, forged
    assert await latest(edited) == before


async def test_another_team_gets_404_for_the_editor_and_its_fragments(edited: Stage) -> None:
    """A person of another team gets a 404 page for the editor, and 404 from the preview, save and
    pull-request fragments for the name: nothing saved in either team."""
    team_id, token = await other_team_session(edited)
    status, html = await http(edited, token, "GET", EDIT, team_id=team_id)
    assert status == 404
    assert 'data-error-code="not_found"' in html
    assert "Hello from" not in html
    headers = await csrf_of(edited, token, team_id)
    for path, sent in (
        (PREVIEW, form("B {{ agent }}", "x")),
        (SAVE, form("B {{ agent }}", "x")),
        (PULL_REQUEST, {"name": NAME}),
    ):
        status, refused = await http(edited, token, "POST", path, team_id=team_id, json=sent, headers=headers)
        assert status == 404, (path, refused)
    status, listed = await http(edited, token, "GET", "/api/v1/prompts", team_id=team_id)
    assert NAME not in listed


async def test_the_editor_previews_an_error_then_renders_and_saves_in_a_browser(
    edited: Stage, chromium: Browser, axe_source: str
) -> None:
    """From the prompt page's link: the editor is prefilled from the latest version; a preview with
    the sample cleared says `agent` is required beside it; with a sample it renders; Save makes the
    next version. The page has no inline script or style and no serious axe finding."""
    context, page = await signed_in(edited, chromium, viewport=LAPTOP)
    await page.goto(f"/dashboard/prompts/{NAME}")
    async with page.expect_navigation():
        await page.click("#prompt-edit")
    assert page.url.endswith(EDIT)
    found = await ok(edited, "GET", f"/api/v1/prompts/{NAME}")
    assert await page.input_value("#ed-template") == found["document"]["template"]
    assert await page.input_value("#ed-var-name-0") == "agent"
    await page.fill("#ed-template", "Good day from {{ agent }}.")
    await page.fill("#ed-var-sample-0", "")
    await page.click("#editor-preview")
    await page.wait_for_selector("#slot-var-0 .field-error")
    assert "`agent` (string) is required" in await page.locator("#slot-var-0").inner_text()
    await screenshot(page, "prompts-editor-error")
    await page.fill("#ed-var-sample-0", "Grace")
    await page.click("#editor-preview")
    await page.wait_for_selector("#rendered-text")
    assert await page.locator("#rendered-text").inner_text() == "Good day from Grace."
    assert await page.locator("#slot-var-0 .field-error").count() == 0
    await screenshot(page, "prompts-editor")
    before = await latest(edited)
    await page.fill("#ed-commit", "good day")
    await page.click("#editor-save")
    await page.wait_for_selector("#editor-saved")
    assert await page.locator("#editor-saved").get_attribute("data-version") == str(before + 1)
    assert await latest(edited) == before + 1
    await screenshot(page, "prompts-editor-saved")

    response = await context.request.get(EDIT, headers={"X-MNO-Team": edited.team.id})
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert inline_code(await response.text()) == (0, [], 0, 0)
    await assert_accessible_on_laptop_and_phone(page, EDIT, axe_source)
    await screenshot(page, "prompts-editor-phone")
    await context.close()


async def test_the_pull_request_button_shows_the_apis_refusal_in_words(
    edited: Stage, chromium: Browser
) -> None:
    """No button while the team has no repository (the fragment then says none is connected); with
    one connected whose installation no longer grants it, the button's answer is the API's refusal."""
    context, page = await signed_in(edited, chromium, viewport=LAPTOP)
    await page.goto(f"/dashboard/prompts/{NAME}")
    assert await page.locator("#prompt-pull-request").count() == 0
    owner = await edited.member(Role.OWNER)
    status, html = await http(
        edited, owner, "POST", PULL_REQUEST, json={"name": NAME}, headers=await csrf_of(edited, owner)
    )
    assert status == 200, html
    assert "No pull request was opened: no prompt repository is connected." in html
    async with edited.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO super_agent.prompt_repositories "
            "(team_id, installation_id, repository_id, full_name, branch, folder, connected_by) "
            "VALUES ($1::uuid, 987654, 123456, 'acme/prompts', 'main', 'prompts', 'test')",
            edited.team.id,
        )
    try:
        await page.goto(f"/dashboard/prompts/{NAME}")
        await page.click("#prompt-pull-request")
        await page.wait_for_selector("#pr-problem")
        problem = await page.locator("#pr-problem").inner_text()
        assert (
            problem
            == "No pull request was opened: acme/prompts is no longer granted to your account's installation."
        )
        await screenshot(page, "prompts-editor-pull-request")
    finally:
        async with edited.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM super_agent.prompt_repositories WHERE team_id = $1::uuid", edited.team.id
            )
    await context.close()


async def test_add_a_message_and_add_a_variable_append_rows_that_are_saved(
    edited: Stage, chromium: Browser
) -> None:
    """ "Add a message" and "Add a variable" append numbered rows as often as pressed (not one new row
    per save): a chat version with three messages and three variables is saved in one go."""
    name = "dash-editor-rows"
    await ok(
        edited,
        "POST",
        "/api/v1/prompts",
        {"name": name, "type": "text", "template": "Hi.", "variables": {"agent": {"type": "string"}}},
    )
    context, page = await signed_in(edited, chromium, viewport=LAPTOP)
    await page.goto(f"/dashboard/prompts/{name}/edit")
    await page.select_option("#ed-type", "chat")
    await page.fill("#ed-content-0", "You are {{ agent }}.")
    for index, text in ((1, "Say {{ greeting }}."), (2, "Then say {{ farewell }}.")):
        await page.click("[data-add-row=new-message-row]")
        assert await page.evaluate("document.activeElement.id") == f"ed-role-{index}"
        assert await page.locator(f"label[for=ed-content-{index}]").inner_text() == f"Message {index + 1}"
        await page.fill(f"#ed-content-{index}", text)
    await page.fill("#ed-var-name-0", "agent")
    await page.fill("#ed-var-sample-0", "a guide")
    for index, (variable, sample) in ((1, ("greeting", "hello")), (2, ("farewell", "goodbye"))):
        if index == 2:
            await page.click("[data-add-row=new-variable-row]")
        await page.fill(f"#ed-var-name-{index}", variable)
        await page.fill(f"#ed-var-sample-{index}", sample)
    await page.click("#editor-preview")
    await page.wait_for_selector("#editor-result .rendered-message >> nth=2")
    rendered = await page.locator("#editor-result .rendered-message").all_inner_texts()
    assert rendered == ["You are a guide.", "Say hello.", "Then say goodbye."]
    await page.fill("#ed-commit", "three of each")
    await page.click("#editor-save")
    await page.wait_for_selector("#editor-saved")
    saved = await ok(edited, "GET", f"/api/v1/prompts/{name}")
    document = saved["document"]
    assert [m["content"] for m in document["messages"]] == [
        "You are {{ agent }}.",
        "Say {{ greeting }}.",
        "Then say {{ farewell }}.",
    ]
    assert set(document["variables"]) == {"agent", "greeting", "farewell"}
    await context.close()
