"""The Packages pages in Debian's chromium against the session's mesh (the ArtifactManagerAgent a real
process): packages published with real twine are found by the search, the package page shows what
`GET /api/v1/registry/...` answers, the readme is sanitised, writes are offered only to those who
may, a yank from the page shows, another team gets a 404, and the client configuration is the
team's own with no key in it."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page

from services.dashboard.packages import client_config
from services.identity import apikeys
from shared.messages.permissions import Role, permissions_of_roles
from tests.dashboard.conftest import LAPTOP, Stage, screenshot
from tests.dashboard.test_account_github import session_in
from tests.dashboard.test_browser import (
    assert_accessible_on_laptop_and_phone,
    inline_code,
    signed_in,
    write_controls,
)
from tests.fixtures.edge import until
from tests.registry.coremeta import core_metadata, wheel
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import build_project, minimal_wheel, twine_upload, upload_bytes

LIB = "dash-lib"
APP = "dash-app"
SCRATCH = "dash-scratch"
# A readme that would run script in a page that rendered it as written.
HOSTILE_README = """# Safe heading

Text with <script>window.pwned = 1</script> a script.

<img src="/x.png" alt="logo" onerror="window.pwned = 2">

[click me](javascript:window.pwned=3) and <a href="javascript:window.pwned=4" onclick="window.pwned=5">me</a>

<iframe src="https://example.com"></iframe>
"""
WRITE_ROUTES = {
    "/dashboard/packages/yank",
    "/dashboard/packages/delete-version",
    "/dashboard/packages/delete",
}


@dataclass(frozen=True)
class Published:
    files: dict[str, list[Path]]  # version label -> the files twine uploaded


@pytest.fixture(scope="module")
async def published(stage: Stage, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """dash-lib 1.0 (wheel and sdist, the hostile readme) and 1.1, and dash-app 0.1 depending on
    dash-lib, built with `build` and uploaded with twine as the stage team's owner key."""
    work = tmp_path_factory.mktemp("dash-dists")
    files = {
        "lib-1.0": await asyncio.to_thread(build_project, work, "Dash-Lib", "1.0", readme=HOSTILE_README),
        "lib-1.1": await asyncio.to_thread(build_project, work, "Dash-Lib", "1.1", sdist=False),
        "app-0.1": await asyncio.to_thread(
            build_project, work, "dash_app", "0.1", dependencies=("dash-lib>=1.0",), sdist=False
        ),
    }
    everything = [f for group in files.values() for f in group]
    result = await asyncio.to_thread(twine_upload, stage.edge, stage.team.id, stage.team.key, everything)
    assert result.returncode == 0, result.stdout + result.stderr
    return Published(files)


def package_path(name: str, version: str | None = None) -> str:
    path = f"/dashboard/packages/pypi/{quote(name, safe='')}"
    return f"{path}?version={version}" if version else path


async def texts(page: Page, selector: str, attribute: str) -> list[str]:
    return list(await page.locator(selector).evaluate_all(f"els => els.map(e => e.dataset.{attribute})"))


async def other_team_session(stage: Stage, role: Role = Role.OWNER) -> tuple[str, str]:
    """A new team of its own (no package) and a session of a person in it."""
    slug = f"pk-{uuid.uuid4().hex[:6]}"
    async with stage.pool.acquire() as conn:
        account_id = await conn.fetchval(
            "SELECT account_id FROM super_agent.teams WHERE id = $1::uuid", stage.team.id
        )
        team_id = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, $2, $3, false) RETURNING id::text",
            account_id,
            slug,
            f"Other {slug}",
        )
    return team_id, await session_in(stage.pool, team_id, role)


async def test_search_finds_packages_by_text_and_filters(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """The search box finds dash-lib by a prefix of its name; `depends on dash-lib` finds dash-app only;
    the licence filter keeps both; the npm filter none; a team with nothing shows how to publish."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto("/dashboard/packages")
    assert "Packages" in await page.locator("nav").inner_text()
    assert sorted(await texts(page, "#packages tbody tr", "package")) == [f"pypi:{APP}", f"pypi:{LIB}"]
    await page.fill("#pkg-q", "dash-li")
    async with page.expect_navigation():
        await page.click("form.package-search button[type=submit]")
    assert await texts(page, "#packages tbody tr", "package") == [f"pypi:{LIB}"]
    row = page.locator(f'#packages tr[data-package="pypi:{LIB}"]')
    assert "1.1" in await row.inner_text()
    assert "A test package" in await row.inner_text()
    await screenshot(page, "packages")

    await page.goto(f"/dashboard/packages?depends_on={LIB}")
    assert await texts(page, "#packages tbody tr", "package") == [f"pypi:{APP}"]
    await page.goto("/dashboard/packages?license=MIT&ecosystem=pypi")
    assert len(await texts(page, "#packages tbody tr", "package")) == 2
    await page.goto("/dashboard/packages?ecosystem=npm")
    assert await page.locator("#packages-none").count() == 1
    await context.close()

    _, token = await other_team_session(stage)
    empty = await stage.context(chromium, token)
    page = await empty.new_page()
    await page.goto("/dashboard/packages")
    state = await page.locator("#packages-empty").inner_text()
    assert "twine upload --repository-url" in state
    assert "<API_KEY>" in state
    await empty.close()


async def test_package_page_shows_what_the_api_answers(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """Versions (latest and stable marked), a version's files with size and SHA-256, dependencies,
    dependents and the upload history (who: the publisher's login) are the registry API's answers."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    status, versions = await stage.api("GET", f"/api/v1/registry/packages/pypi/{LIB}")
    assert status == 200, versions
    await page.goto(package_path(LIB))
    assert await texts(page, "#versions tbody tr", "version") == [v["version"] for v in versions["versions"]]
    latest = page.locator('#versions tr[data-version="1.1"]')
    assert await latest.locator(".mark-latest").count() == 1
    assert await latest.locator(".mark-stable").count() == 1
    assert await page.locator('#versions tr[data-version="1.0"] .mark-latest').count() == 0

    await page.goto(package_path(LIB, "1.0"))
    status, version = await stage.api("GET", f"/api/v1/registry/packages/pypi/{LIB}/versions/1.0")
    assert status == 200, version
    shown = await page.locator("#files tbody tr").evaluate_all(
        "els => els.map(e => [e.dataset.filename, e.dataset.sha256, Number(e.dataset.size)])"
    )
    assert sorted(map(tuple, shown)) == sorted(
        (f["filename"], f["sha256"], f["size"]) for f in version["files"]
    )
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in published.files["lib-1.0"]}
    assert {name: digest for name, digest, _ in shown} == on_disk
    assert len(shown) == 2
    assert await page.locator("#purl").inner_text() == version["purl"]
    assert await texts(page, "#dependents li", "package") == [APP]
    uploads = await texts(page, "#uploads tbody tr", "filename")
    assert sorted(uploads) == sorted(
        p.name for p in [*published.files["lib-1.0"], *published.files["lib-1.1"]]
    )
    # The registry records a key's person (the admin made the stage's key): shown by their login.
    assert set(await page.locator("#uploads td.uploader").all_inner_texts()) == {"local-admin"}
    await screenshot(page, "package-page")

    await page.goto(package_path(APP))
    assert await texts(page, "#dependencies tbody tr", "dependency") == [LIB]
    assert ">=1.0" in await page.locator("#dependencies").inner_text()
    await page.click(f'#dependencies a:text("{LIB}")')
    await page.wait_for_url(f"**{package_path(LIB)}")
    missing = await page.goto(package_path(LIB, "9.9"))
    assert missing is not None
    assert missing.status == 404
    await context.close()


async def test_the_readme_is_rendered_without_script_handlers_or_javascript_links(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """The hostile readme's Markdown is rendered (its heading, its link text) but no <script>, no
    iframe, no on* attribute, no javascript: URL reaches the page, and nothing of it runs."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(package_path(LIB, "1.0"))
    readme = page.locator("#readme")
    assert await readme.locator("h1").inner_text() == "Safe heading"
    assert "click me" in await readme.inner_text()
    assert "[image: logo]" in await readme.inner_text()
    found = await readme.evaluate(
        """r => ({
          scripts: r.querySelectorAll('script, iframe, img, object, embed, style').length,
          handlers: [...r.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
            .filter(n => n.startsWith('on')),
          links: [...r.querySelectorAll('[href], [src]')]
            .map(e => e.getAttribute('href') || e.getAttribute('src'))
            .filter(u => /^\\s*javascript:/i.test(u)),
        })"""
    )
    assert found == {"scripts": 0, "handlers": [], "links": []}
    for link in await readme.locator("a").all():
        await link.click(no_wait_after=True)
    assert await page.evaluate("window.pwned === undefined")
    html = await (
        await context.request.get(package_path(LIB, "1.0"), headers={"X-MNO-Team": stage.team.id})
    ).text()
    article = html.split('id="readme"', 1)[1].split("</article>", 1)[0]
    assert "<script" not in article
    assert "onerror" not in article
    assert "javascript:" not in article
    await context.close()


async def test_a_viewer_sees_no_write_control_and_a_forged_or_refused_write_is_403(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """A viewer's package page offers no yank, unyank or delete (an owner's offers all three); the
    viewer's POST with a valid CSRF token is 403 (permission), an owner's without the token 403 (CSRF),
    and nothing was yanked."""
    viewer = await stage.context(chromium, await stage.member(Role.VIEWER))
    page = await viewer.new_page()
    await page.goto(package_path(LIB))
    assert await page.locator("#versions tbody tr").count() == 2
    assert write_controls(await page.content()) == []
    await screenshot(page, "package-page-viewer")
    session = await (await viewer.request.get("/api/v1/session")).json()
    body = {"ecosystem": "pypi", "name": LIB, "version": "1.1", "reason": "nope"}
    refused = await viewer.request.post(
        "/dashboard/packages/yank", data=body, headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert refused.status == 403
    owner, owner_page = await signed_in(stage, chromium)
    forged = await owner.request.post(
        "/dashboard/packages/yank", data=body, headers={"X-MNO-Team": stage.team.id}
    )
    assert forged.status == 403
    await owner_page.goto(package_path(LIB))
    assert set(write_controls(await owner_page.content())) >= WRITE_ROUTES
    status, versions = await stage.api("GET", f"/api/v1/registry/packages/pypi/{LIB}")
    assert status == 200
    assert not any(v["yanked"] for v in versions["versions"])
    await viewer.close()
    await owner.close()


async def test_yank_and_unyank_from_the_package_page(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """Yanking 1.1 with a reason from the page shows it yanked with the reason and moves latest to 1.0,
    as the API then says; unyanking puts it back."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await page.goto(package_path(LIB))
    row = page.locator('#versions tr[data-version="1.1"]')
    await row.locator("details.yank summary").click()
    await row.locator("input[name=reason]").fill("broken build")
    await row.locator("form button[type=submit]").click()
    await page.wait_for_selector('#versions tr[data-version="1.1"][data-yanked="true"]')
    assert "Version 1.1 yanked." in await page.locator("#package-done").inner_text()
    row = page.locator('#versions tr[data-version="1.1"]')
    assert await row.locator(".yank-reason").inner_text() == "broken build"
    assert await page.locator('#versions tr[data-version="1.0"] .mark-latest').count() == 1
    status, version = await stage.api("GET", f"/api/v1/registry/packages/pypi/{LIB}/versions/1.1")
    assert status == 200
    assert version["yanked"]
    assert version["yanked_reason"] == "broken build"
    await screenshot(page, "package-page-yanked")

    await row.locator("button", has_text="Unyank").click()
    await page.wait_for_selector('#versions tr[data-version="1.1"][data-yanked="false"]')
    status, version = await stage.api("GET", f"/api/v1/registry/packages/pypi/{LIB}/versions/1.1")
    assert status == 200
    assert not version["yanked"]
    await context.close()


async def test_delete_a_version_then_the_package_from_the_page(stage: Stage, chromium: Browser) -> None:
    """Deleting a version (confirmed) leaves the other; deleting the package goes back to the search,
    and the API no longer knows it."""
    for version in ("1.0", "2.0"):
        wheel, content = minimal_wheel(SCRATCH, version)
        status, text = await upload_bytes(
            stage.edge, stage.team.id, stage.team.key, SCRATCH, version, wheel, content
        )
        assert status == 200, text
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(package_path(SCRATCH))
    await page.locator('#versions tr[data-version="2.0"] button.danger').click()
    await page.wait_for_selector("#package-done")
    assert await texts(page, "#versions tbody tr", "version") == ["1.0"]
    async with page.expect_navigation():
        await page.click("#delete-package")
    assert page.url.endswith("/dashboard/packages")
    status, _ = await stage.api("GET", f"/api/v1/registry/packages/pypi/{SCRATCH}")
    assert status == 404
    await context.close()


async def test_an_owner_deletes_a_version_the_policy_refuses_with_a_reason(
    stage: Stage, chromium: Browser
) -> None:
    """An old version another package depends on is refused with the policy's words, then offered as
    "Delete anyway"; with a reason the owner's override deletes it and the audit log keeps the reason."""
    base, dependent = f"dash-base-{uuid.uuid4().hex[:6]}", f"dash-user-{uuid.uuid4().hex[:6]}"
    for name, requires in ((base, ()), (dependent, (base,))):
        filename, content = wheel(name, "1.0", core_metadata(name, "1.0", requires=requires))
        status, text = await upload_bytes(
            stage.edge, stage.team.id, stage.team.key, name, "1.0", filename, content
        )
        assert status == 200, text
    async with stage.pool.acquire() as conn:
        await conn.execute(
            "UPDATE artifact_manager.versions SET published_at = now() - interval '73 hours' "
            "WHERE team_id = $1::uuid",
            stage.team.id,
        )
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(package_path(base))
    await page.locator('#versions tr[data-version="1.0"] button.danger').click()
    refusal = page.locator("#package-body .error")
    await refusal.wait_for()
    assert "depend" in await refusal.inner_text()
    await page.fill("#override-reason", "a secret was published in it")
    await page.click("#delete-override button:has-text('Delete anyway')")
    await page.wait_for_url("**/dashboard/packages")
    status, _ = await stage.api("GET", f"/api/v1/registry/packages/pypi/{base}")
    assert status == 404
    async with stage.pool.acquire() as conn:
        after = await conn.fetchval(
            "SELECT after FROM super_agent.audit_entries WHERE team_id = $1::uuid "
            "AND action = 'artifacts.delete.override' ORDER BY seq DESC LIMIT 1",
            stage.team.id,
        )
    assert after is not None
    assert "a secret was published in it" in str(after)
    await context.close()


async def test_a_scoped_npm_package_page_opens_with_its_versions_and_dependents(
    stage: Stage, chromium: Browser
) -> None:
    """`/dashboard/packages/npm/%40dash%2Fui` shows the scoped package's versions and its scoped
    dependent, whose link opens; the search's `depends_on=@dash/ui` finds that dependent."""
    team_id, token = await other_team_session(stage)  # the stage team's searches stay Python-only
    async with stage.pool.acquire() as conn:
        _, key = await apikeys.create(
            conn,
            team_id=team_id,
            name="scoped npm",
            permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
            created_by=stage.admin_id,
        )
    for name, version, manifest in (
        ("@dash/ui", "1.0.0", {}),
        ("@dash/ui", "1.1.0", {}),
        ("@dash/shell", "2.0.0", {"dependencies": {"@dash/ui": "^1.0.0"}}),
    ):
        document = publish_document(name, version, package_tarball(name, version), **manifest)
        status, body = await put_document(stage.edge, team_id, str(key), name, document)
        assert status in (200, 201), body
    context = await stage.context(chromium, token, viewport=LAPTOP)
    page = await context.new_page()
    response = await page.goto("/dashboard/packages/npm/%40dash%2Fui")
    assert response is not None
    assert response.status == 200, await response.text()
    assert await texts(page, "#versions tbody tr", "version") == ["1.1.0", "1.0.0"]
    assert await texts(page, "#dependents li", "package") == ["@dash/shell"]
    await page.click('#dependents a:text("@dash/shell")')
    await page.wait_for_url("**/dashboard/packages/npm/%40dash%2Fshell")
    assert await texts(page, "#dependencies tbody tr", "dependency") == ["@dash/ui"]
    response = await page.goto("/dashboard/packages?depends_on=@dash/ui")
    assert response is not None
    assert response.status == 200, await response.text()
    assert await page.locator('tr[data-package="npm:@dash/shell"]').count() == 1
    await context.close()


async def test_the_package_page_shows_the_versions_authors_homepage_and_repository(
    stage: Stage, chromium: Browser
) -> None:
    """A wheel's Author, Author-email, Home-page and Project-URL `Repository`, and an npm version's
    author object, homepage and {type, url} repository, are on their package pages as the REST
    version document gives them (`authors`, `homepage`, `repository`)."""
    team_id, token = await other_team_session(stage)  # the stage team's searches stay as they are
    async with stage.pool.acquire() as conn:
        _, created = await apikeys.create(
            conn,
            team_id=team_id,
            name="people",
            permissions=sorted(permissions_of_roles((Role.OWNER.value,))),
            created_by=stage.admin_id,
        )
    key = str(created)
    fields = [
        ("Author", "Jane Doe"),
        ("Author-email", "jane@example.com"),
        ("Home-page", "https://home.example.com/dash-people"),
        ("Project-URL", "Repository, https://git.example.com/dash-people"),
    ]
    filename, content = wheel("dash-people", "1.0", core_metadata("dash-people", "1.0", fields=fields))
    status, text = await upload_bytes(stage.edge, team_id, key, "dash-people", "1.0", filename, content)
    assert status == 200, text
    manifest = {
        "author": {"name": "Jane Doe", "email": "jane@example.com"},
        "homepage": "https://home.example.com/dash-people-js",
        "repository": {"type": "git", "url": "git+https://git.example.com/dash-people-js.git"},
    }
    document = publish_document(
        "dash-people-js", "1.0.0", package_tarball("dash-people-js", "1.0.0"), **manifest
    )
    status, body = await put_document(stage.edge, team_id, key, "dash-people-js", document)
    assert status == 201, body
    context = await stage.context(chromium, token, viewport=LAPTOP)
    page = await context.new_page()
    expected = {
        ("pypi", "dash-people", "1.0"): (
            ["Jane Doe", "jane@example.com"],
            "https://home.example.com/dash-people",
            "https://git.example.com/dash-people",
        ),
        ("npm", "dash-people-js", "1.0.0"): (
            ["Jane Doe <jane@example.com>"],
            "https://home.example.com/dash-people-js",
            "git+https://git.example.com/dash-people-js.git",
        ),
    }
    for (ecosystem, name, version), (authors, homepage, repository) in expected.items():
        response = await context.request.get(
            f"/api/v1/registry/packages/{ecosystem}/{name}/versions/{version}",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status == 200, await response.text()
        answer = await response.json()
        assert answer["authors"] == authors
        assert (answer["homepage"], answer["repository"]) == (homepage, repository)
        await page.goto(f"/dashboard/packages/{ecosystem}/{quote(name, safe='')}")
        facts = dict(
            await page.locator("#about dl.facts dt").evaluate_all(
                "dts => dts.map(dt => [dt.textContent, dt.nextElementSibling.textContent])"
            )
        )
        assert facts["Authors"] == ", ".join(authors), (ecosystem, facts)
        assert facts["Homepage"] == homepage, (ecosystem, facts)
        assert facts["Repository"] == repository, (ecosystem, facts)
    await context.close()


async def test_another_team_cannot_open_the_package(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """A person of another team gets a 404 page for dash-lib's page (nothing of it shown) and does not
    find it by search."""
    _, token = await other_team_session(stage)
    context = await stage.context(chromium, token)
    page = await context.new_page()
    response = await page.goto(package_path(LIB))
    assert response is not None
    assert response.status == 404
    assert await page.locator('h1[data-error-code="not_found"]').count() == 1
    assert "Safe heading" not in await page.content()
    await page.goto(f"/dashboard/packages?q={LIB}")
    assert await page.locator("#packages tbody tr").count() == 0
    await context.close()


async def test_another_teams_writes_from_the_forms_are_404_and_change_nothing(
    stage: Stage, chromium: Browser
) -> None:
    """An owner of another team posting the stage team's package to yank, unyank, delete-version and
    delete (forced too, with a reason) gets the not-found page each time; the package keeps both
    versions, 1.0 not yanked and 2.0 still yanked with its reason."""
    name = f"dash-cross-{uuid.uuid4().hex[:6]}"
    for version in ("1.0", "2.0"):
        filename, content = minimal_wheel(name, version)
        status, text = await upload_bytes(
            stage.edge, stage.team.id, stage.team.key, name, version, filename, content
        )
        assert status == 200, text
    api = f"/api/v1/registry/packages/pypi/{name}"
    status, body = await stage.api("POST", f"{api}/versions/2.0/yank", json={"reason": "held back"})
    assert status == 200, body
    _, token = await other_team_session(stage, Role.OWNER)
    context = await stage.context(chromium, token)
    session = await (await context.request.get("/api/v1/session")).json()
    assert session["team_id"] != stage.team.id
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    override = {"force": "true", "reason": "not ours to delete"}
    posts: list[tuple[str, dict[str, str]]] = [
        ("/dashboard/packages/yank", {"version": "1.0", "reason": "theirs"}),
        ("/dashboard/packages/unyank", {"version": "2.0"}),
        ("/dashboard/packages/delete-version", {"version": "1.0"}),
        ("/dashboard/packages/delete-version", {"version": "1.0", **override}),
        ("/dashboard/packages/delete", {}),
        ("/dashboard/packages/delete", override),
    ]
    for path, fields in posts:
        response = await context.request.post(
            path, data={"ecosystem": "pypi", "name": name, **fields}, headers=csrf
        )
        text = await response.text()
        assert response.status == 404, (path, fields, response.status, text)
        assert 'data-error-code="not_found"' in text, (path, text)
        assert "held back" not in text
    await context.close()
    status, versions = await stage.api("GET", api)
    assert status == 200, versions
    assert {v["version"]: v["yanked"] for v in versions["versions"]} == {"1.0": False, "2.0": True}
    status, held = await stage.api("GET", f"{api}/versions/2.0")
    assert (status, held["yanked_reason"]) == (200, "held back")
    status, body = await stage.api("DELETE", api)  # the stage team's searches list dash-lib and dash-app
    assert status == 200, body


async def test_client_configuration_is_the_teams_with_no_key(stage: Stage, chromium: Browser) -> None:
    """pip's index URL, ~/.pypirc, .npmrc and the one-line twine upload and npm configuration (those
    tests/registry/test_client_lines.py runs with the real clients) name this edge and the team, with
    <API_KEY> in the key's place (the owner's real key appears nowhere); a copy button puts the pip
    line on the clipboard."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stage.edge)
    await page.goto("/dashboard/packages/setup")
    host = stage.edge.split("://", 1)[1]
    pip = await page.locator("#pip-line").inner_text()
    assert pip.startswith(
        f"pip install --index-url http://__token__:<API_KEY>@{host}/registry/{stage.team.id}/pypi/simple/"
    )
    pypirc = await page.locator("#pypirc").inner_text()
    assert f"repository = {stage.edge}/registry/{stage.team.id}/pypi/legacy/" in pypirc
    assert "username = __token__" in pypirc
    assert "password = <API_KEY>" in pypirc
    npmrc = await page.locator("#npmrc").inner_text()
    assert f"registry={stage.edge}/registry/{stage.team.id}/npm/" in npmrc
    assert f"//{host}/registry/{stage.team.id}/npm/:_authToken=<API_KEY>" in npmrc
    config = client_config(stage.edge, stage.team.id)
    twine = await page.locator("#twine-one-line").inner_text()
    assert twine == config.twine_line
    assert twine == (
        f"twine upload --repository-url {stage.edge}/registry/{stage.team.id}/pypi/legacy/ "
        "-u __token__ -p <API_KEY> dist/*"
    )
    npm_line = await page.locator("#npm-line").inner_text()
    assert npm_line == config.npm_line
    assert npm_line == (
        f"npm config set registry={stage.edge}/registry/{stage.team.id}/npm/ "
        f"//{host}/registry/{stage.team.id}/npm/:_authToken=<API_KEY>"
    )
    assert stage.team.key not in await page.content()
    # The Clipboard API writes only from a focused document: another page of this browser (an earlier
    # test's) may hold the focus, and the copy then fails, as it would for a user in another window.
    await page.bring_to_front()
    await page.click('button[data-copy="pip-line"]')
    await page.wait_for_function("document.getElementById('copy-status').textContent.length > 0")
    assert await page.locator("#copy-status").inner_text() == "Copied to the clipboard."
    assert await page.evaluate("navigator.clipboard.readText()") == pip
    await screenshot(page, "packages-client-config")
    await context.close()


async def test_packages_pages_carry_the_csp_and_have_no_serious_axe_finding(
    stage: Stage, published: Published, chromium: Browser, axe_source: str
) -> None:
    """The search, package and setup pages have a CSP without 'unsafe-inline' and no inline script or
    style; axe-core finds nothing serious or critical on a laptop and a phone, no page scrolls
    sideways on the phone, and chromium reports no CSP violation."""
    context, page = await signed_in(stage, chromium, viewport=LAPTOP)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    team = {"X-MNO-Team": stage.team.id}
    paths = ["/dashboard/packages", package_path(LIB, "1.0"), "/dashboard/packages/setup"]
    for path in paths:
        response = await context.request.get(path, headers=team)
        assert response.status == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp, path
        assert inline_code(await response.text()) == (0, [], 0, 0), path
    for path in paths:
        await assert_accessible_on_laptop_and_phone(page, path, axe_source)
    await screenshot(page, "packages-client-config-phone")
    assert violations == []
    await context.close()


async def test_a_version_without_findings_offers_its_sbom(
    stage: Stage, published: Published, chromium: Browser
) -> None:
    """dash-app 0.1's page (once the supply chain made its SBOM) links the SBOM the API finds for the
    version, in CycloneDX and SPDX, naming its dependency dash-lib, and says it has no finding (its
    CycloneDX VEX is linked, OpenVEX is not); the API's filter finds no SBOM of another version."""

    async def made() -> list[Any]:
        status, body = await stage.api(
            "GET",
            "/api/v1/sboms",
            params={
                "source": "artifact",
                "subject_ecosystem": "pypi",
                "subject_name": APP,
                "subject_version": "0.1",
            },
        )
        assert status == 200, body
        items: list[Any] = body["items"]
        return items

    sboms = await until(made, 90)
    assert len(sboms) == 1, "dash-app 0.1's SBOM was not made in 90 s"
    status, body = await stage.api(
        "GET", "/api/v1/sboms", params={"source": "artifact", "subject_name": APP, "subject_version": "9.9"}
    )
    assert (status, body["items"]) == (200, [])
    context, page = await signed_in(stage, chromium)
    await page.goto(package_path(APP, "0.1"))
    assert await page.locator("#sbom-downloads").get_attribute("data-sbom-id") == sboms[0]["id"]
    assert await page.locator("#sbom-findings-none").count() == 1
    for kind in ("cyclonedx", "spdx"):
        href = await page.locator(f"#sbom-{kind}").get_attribute("href")
        assert href == f"/api/v1/sboms/{sboms[0]['id']}/document?format={kind}"
        response = await context.request.get(href, headers={"X-MNO-Team": stage.team.id})
        assert response.status == 200
        assert LIB in await response.text()
    # No finding, so its triage is an empty CycloneDX VEX, and no OpenVEX (which has no empty form).
    vex = await page.locator("#sbom-cyclonedx-vex").get_attribute("href")
    response = await context.request.get(str(vex), headers={"X-MNO-Team": stage.team.id})
    assert response.status == 200
    assert (await response.json())["bomFormat"] == "CycloneDX"
    assert await page.locator("#sbom-openvex").count() == 0
    await context.close()
