"""The GitHub sync of prompts end to end: the edge and the LearningAgent as processes on real NATS and
PostgreSQL, the stand-in GitHub serving the repositories' git data to installation tokens, and
`push` deliveries signed and sent as GitHub sends them. Accounts, installations and repositories are
linked by real `installation` deliveries, never rows written around the edge."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml

from services.dashboard.prompt_editor import PULL_REQUEST_PATH
from services.identity import sessions
from services.webhooks.signature import sign
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Role
from tests.fixtures import github_link as gh
from tests.fixtures.fake_github import FakeCommit, FakeGitHub, FakeRepository
from tests.fixtures.mesh import TOKEN, MeshLauncher
from tests.identity.test_teams_support import audit_actions
from tests.prompts.api_support import Member, api, member

REPOSITORY = "/api/v1/prompts/-/repository"
KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()
ORG_A, ORG_B = gh.org(7201, "org-a"), gh.org(7202, "org-b")
A_INSTALLATION, B_INSTALLATION = 61_001, 61_002

GREET = """\
name: greet
type: text
variables:
  who: {type: string}
template: "Hello {{ who }}"
"""
FAREWELL = """\
# a comment
type: chat
variables: {who: {type: string}}
messages:
  - {role: system, content: "Be brief."}
  - {role: user, content: "Say goodbye to {{ who }}"}
"""


@dataclass(frozen=True)
class World:
    base: str
    pool: asyncpg.Pool
    fake: FakeGitHub
    a_repo: FakeRepository
    a_other_repo: FakeRepository
    b_repo: FakeRepository
    a_owner: Member
    a_viewer: Member
    b_owner: Member


async def default_team(pool: asyncpg.Pool, github_id: int) -> str:
    team: str = await pool.fetchval(
        "SELECT t.id::text FROM super_agent.teams t JOIN super_agent.accounts a ON a.id = t.account_id "
        "WHERE a.github_id = $1 AND t.is_default",
        github_id,
    )
    return team


@pytest.fixture
async def world(launcher: MeshLauncher, fake_github: FakeGitHub) -> AsyncIterator[World]:
    """Two organisations, each with the App installed on its repositories (at GitHub and, through
    `installation` deliveries, here), an owner and a viewer of A's team and an owner of B's."""
    launcher.overrides = {
        "github": {
            **gh.WEBHOOK_SECRETS,
            "enabled": True,
            "app_id": fake_github.app_id,
            "client_id": fake_github.client_id,
            "client_secret": fake_github.client_secret,
            "private_keys": [fake_github.private_key_pem],
            "api_url": fake_github.url,
            "web_url": fake_github.url,
        },
        "auth": {"encryption_keys": [KEY]},
        "jetstream": {"backoff_seconds": [0.2, 0.5, 1.0], "max_deliver": 4},
    }
    await asyncio.gather(
        asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT),
        asyncio.to_thread(launcher.start, AgentName.LEARNING),
    )
    a_installation = fake_github.add_installation(
        "org-a",
        installation_id=A_INSTALLATION,
        account_id=7201,
        permissions={"metadata": "read", "contents": "write", "pull_requests": "write"},
    )
    b_installation = fake_github.add_installation("org-b", installation_id=B_INSTALLATION, account_id=7202)
    a_repo = fake_github.add_repository(a_installation.id, "prompts", repository_id=930_001)
    a_other = fake_github.add_repository(a_installation.id, "web", repository_id=930_002)
    b_repo = fake_github.add_repository(b_installation.id, "prompts", repository_id=940_001)
    pool = await create_pool(launcher.postgres_dsn, min_size=1, max_size=3, command_timeout=15)
    try:
        base = launcher.edge_url
        linked = [
            await gh.send(
                base,
                gh.installation_created(
                    A_INSTALLATION, ORG_A, [_repo_json(a_repo), _repo_json(a_other)], sender_id=7
                ),
                "installation",
            ),
            await gh.send(
                base,
                gh.installation_created(B_INSTALLATION, ORG_B, [_repo_json(b_repo)], sender_id=8),
                "installation",
            ),
        ]
        await gh.settled(pool, linked)
        a_team, b_team = await default_team(pool, 7201), await default_team(pool, 7202)
        yield World(
            base,
            pool,
            fake_github,
            a_repo,
            a_other,
            b_repo,
            await member(pool, a_team, Role.OWNER),
            await member(pool, a_team, Role.VIEWER),
            await member(pool, b_team, Role.OWNER),
        )
    finally:
        await pool.close()


def _repo_json(repository: FakeRepository) -> dict[str, Any]:
    full_name = f"{repository.owner.login}/{repository.name}"
    return {"id": repository.id, "name": repository.name, "full_name": full_name, "private": True}


async def push(
    world: World,
    commit: FakeCommit,
    *,
    guid: str | None = None,
    sender: tuple[int, str] = (583231, "octocat"),
    branch: str = "main",
    payload: dict[str, Any] | None = None,
) -> asyncpg.Record:
    """Deliver the `push` of `commit` as GitHub does; the delivery's row once it has been applied."""
    body = json.dumps(payload or world.fake.push_payload(commit, sender=sender, branch=branch)).encode()
    guid = guid or str(uuid.uuid4())
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": guid,
        "X-GitHub-Hook-ID": "77",
        "X-Hub-Signature-256": sign(body, gh.APP_SECRET),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{world.base}/webhooks/github", data=body, headers=headers) as response,
    ):
        assert response.status == 202, await response.text()
    await gh.settled(world.pool, [guid])
    row = await world.pool.fetchrow("SELECT * FROM super_agent.webhook_deliveries WHERE guid = $1", guid)
    assert row is not None
    return row


async def connect(world: World, who: Member, repository: str, **extra: str) -> tuple[int, Any]:
    status, body, _ = await api(world.base, "PUT", REPOSITORY, who, {"repository": repository, **extra})
    return status, body


async def versions(world: World, who: Member, name: str) -> list[dict[str, Any]]:
    status, body, _ = await api(world.base, "GET", f"/api/v1/prompts/{name}/versions", who)
    if status == 404:
        return []
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def prompt_names(world: World, who: Member) -> list[str]:
    status, body, _ = await api(world.base, "GET", "/api/v1/prompts", who)
    assert status == 200, body
    return sorted(item["name"] for item in body["items"])


async def test_a_push_saves_each_prompt_file_with_the_commit_message(world: World) -> None:
    """Connected, a push to the branch saves every prompts/*.yaml file as a version whose commit
    message is the head commit's with the sha, authored by the pusher; the sync shows on GET."""
    status, connected = await connect(world, world.a_owner, "org-a/prompts")
    assert status == 200, connected
    assert connected["branch"] == "main"
    assert connected["folder"] == "prompts"
    assert connected["last_sync"] is None
    commit = world.fake.commit(
        world.a_repo.id,
        {"prompts/greet.yaml": GREET, "prompts/farewell.yml": FAREWELL, "README.md": "not a prompt"},
        message="Add the greeting prompts",
    )
    row = await push(world, commit)
    assert row["status"] == "processed", row["outcome"]
    assert await prompt_names(world, world.a_owner) == ["farewell", "greet"]
    greet = await versions(world, world.a_owner, "greet")
    assert len(greet) == 1
    assert greet[0]["commit_message"] == f"Add the greeting prompts\n\norg-a/prompts@{commit.sha}"
    assert greet[0]["author"] == "github:octocat"
    status, state, _ = await api(world.base, "GET", REPOSITORY, world.a_viewer)
    assert status == 200
    assert state["last_sync"]["sha"] == commit.sha
    assert state["last_sync"]["pusher"] == "octocat"
    assert state["last_sync"]["errors"] == []
    assert sorted((s["name"], s["version"], s["created"]) for s in state["last_sync"]["saved"]) == [
        ("farewell", 1, True),
        ("greet", 1, True),
    ]
    # Read through a token narrowed to the repository, with contents: read only.
    token = world.fake.installation_tokens[-1]
    assert token.repository_ids == [world.a_repo.id]
    assert token.permissions == {"contents": "read"}
    trees = world.fake.requests_to("GET", "/repos/{owner}/{repo}/git/trees/{sha}")
    assert [r.query.get("recursive") for r in trees] == ["1"]
    assert all(r.credential == token.token for r in trees)
    actions = await audit_actions(world.pool, world.a_owner.team_id)
    assert actions.count("prompts.repository_connect") == 1
    assert actions.count("prompts.save") == 2


async def test_a_redelivered_or_unchanged_push_makes_no_version(world: World) -> None:
    """GitHub's redelivery, the same commit delivered again, a commit that leaves the folder alone
    and one that only reformats a file all leave the versions as they were; a real change makes v2."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    first = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET})
    guid = str(uuid.uuid4())
    await push(world, first, guid=guid)
    assert len(await versions(world, world.a_owner, "greet")) == 1
    blob_reads = len(world.fake.requests_to("GET", "/repos/{owner}/{repo}/git/blobs/{sha}"))
    # GitHub's "Redeliver" keeps the GUID: recorded as a duplicate, not applied again.
    again = await push(world, first, guid=guid)
    assert again["redeliveries"] == 1
    # The same commit under another delivery (a forced re-push of the same head): synced already.
    same_head = world.fake.push_payload(first, sender=(1, "someone-else"))
    row = await push(world, first, payload=same_head)
    assert "synced already" in row["outcome"]
    # A commit outside the folder: the blob is unchanged, so it is not even read.
    await push(world, world.fake.commit(world.a_repo.id, {"docs/x.md": "x"}))
    assert len(world.fake.requests_to("GET", "/repos/{owner}/{repo}/git/blobs/{sha}")) == blob_reads
    # Another layout of the same content: read, same content hash, no version.
    reformatted = "template: 'Hello {{ who }}'\nvariables:\n  who:\n    type: string\ntype: text\n"
    await push(world, world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": reformatted}))
    assert len(await versions(world, world.a_owner, "greet")) == 1
    changed = world.fake.commit(
        world.a_repo.id, {"prompts/greet.yaml": GREET.replace("Hello", "Hi")}, message="Friendlier"
    )
    await push(world, changed)
    found = await versions(world, world.a_owner, "greet")
    assert [v["version"] for v in found] == [2, 1]
    assert found[0]["commit_message"].startswith("Friendlier\n\n")
    assert (await audit_actions(world.pool, world.a_owner.team_id)).count("prompts.save") == 2


async def test_a_failed_push_retried_after_a_later_one_changes_nothing(world: World) -> None:
    """GitHub failing every attempt of push A leaves it failed (retryable, nothing recorded); push B
    then syncs; A reprocessed afterwards is older than what was synced and does not bring A back."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    trees = "/repos/{owner}/{repo}/git/trees/{sha}"
    world.fake.fail_next("GET", trees, 502, times=4)  # every JetStream delivery of A (max_deliver 4)
    old = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET}, message="Old")
    failed = await push(world, old)
    assert failed["status"] == "failed"
    for _ in range(200):
        if len(world.fake.requests_to("GET", trees)) == 4:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert len(world.fake.requests_to("GET", trees)) == 4
    assert (await api(world.base, "GET", REPOSITORY, world.a_owner))[1]["last_sync"] is None
    new = world.fake.commit(
        world.a_repo.id, {"prompts/greet.yaml": GREET.replace("Hello", "Hey")}, message="New"
    )
    await push(world, new)
    operator = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{world.base}/api/v1/operator/webhook-deliveries/{failed['id']}/reprocess", headers=operator
        ) as response,
    ):
        assert response.status == 202, await response.text()
    for _ in range(200):
        row = await world.pool.fetchrow(
            "SELECT * FROM super_agent.webhook_deliveries WHERE id = $1", failed["id"]
        )
        if row["status"] == "processed":
            break
        await asyncio.sleep(0.05)
    assert row["status"] == "processed", row["outcome"]
    assert "older than the push synced" in row["outcome"]
    found = await versions(world, world.a_owner, "greet")
    assert [(v["version"], v["commit_message"].split("\n")[0]) for v in found] == [(1, "New")]
    _, state, _ = await api(world.base, "GET", REPOSITORY, world.a_owner)
    assert state["last_sync"]["sha"] == new.sha


async def test_an_installation_that_may_not_read_is_reported_not_retried(world: World) -> None:
    """An installation without `contents: read` (the token is refused) is the sync's error on GET,
    the delivery is processed rather than retried, and no prompt is made; once granted, the same
    head delivered again syncs (a head whose tree was never read does not count as synced)."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    world.fake.installations[A_INSTALLATION].permissions = {"metadata": "read"}
    commit = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET})
    row = await push(world, commit)
    assert row["status"] == "processed"
    assert row["attempt"] == 1
    _, state, _ = await api(world.base, "GET", REPOSITORY, world.a_owner)
    assert [(e["path"], e["code"]) for e in state["last_sync"]["errors"]] == [("prompts", "not_readable")]
    assert "not granted" in state["last_sync"]["errors"][0]["message"]
    assert await prompt_names(world, world.a_owner) == []
    assert len(world.fake.token_posts(A_INSTALLATION)) == 1
    # Granted, the same head delivered again (a re-push) is read this time: it was never synced.
    world.fake.installations[A_INSTALLATION].permissions = {"metadata": "read", "contents": "read"}
    await push(world, commit, payload=world.fake.push_payload(commit, sender=(5, "re-pusher")))
    assert await prompt_names(world, world.a_owner) == ["greet"]
    _, state, _ = await api(world.base, "GET", REPOSITORY, world.a_owner)
    assert state["last_sync"]["errors"] == []


async def test_bad_files_are_reported_and_the_others_sync(world: World) -> None:
    """Broken YAML, an undeclared variable and a name that is not the file's are each a per-file
    error on GET, the delivery is processed (no retry, no 500), and the good file is saved; once
    fixed, the next push saves it and the errors are gone."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    commit = world.fake.commit(
        world.a_repo.id,
        {
            "prompts/greet.yaml": GREET,
            "prompts/broken.yaml": "name: broken\ntype: [text\n",
            "prompts/undeclared.yaml": "type: text\ntemplate: '{{ nobody }}'\n",
            "prompts/renamed.yaml": GREET,
        },
    )
    row = await push(world, commit)
    assert row["status"] == "processed"
    assert await prompt_names(world, world.a_owner) == ["greet"]
    _, state, _ = await api(world.base, "GET", REPOSITORY, world.a_owner)
    errors = {e["path"]: e for e in state["last_sync"]["errors"]}
    assert sorted(errors) == ["prompts/broken.yaml", "prompts/renamed.yaml", "prompts/undeclared.yaml"]
    assert errors["prompts/broken.yaml"]["code"] == "invalid_yaml"
    assert errors["prompts/undeclared.yaml"]["code"] == "undeclared_variable"
    assert "nobody" in errors["prompts/undeclared.yaml"]["message"]
    assert errors["prompts/renamed.yaml"]["code"] == "name_mismatch"
    declared = "type: text\nvariables: {nobody: {type: string}}\ntemplate: '{{ nobody }}'\n"
    fixed = world.fake.commit(
        world.a_repo.id,
        {"prompts/undeclared.yaml": declared},
    )
    world.fake.delete(world.a_repo.id, ["prompts/broken.yaml", "prompts/renamed.yaml"])
    head = world.fake.commits[world.fake.branches[world.a_repo.id]["main"]]
    assert head.parent == fixed.sha
    await push(world, head)
    assert await prompt_names(world, world.a_owner) == ["greet", "undeclared"]
    _, state, _ = await api(world.base, "GET", REPOSITORY, world.a_owner)
    assert state["last_sync"]["errors"] == []
    assert [s["name"] for s in state["last_sync"]["saved"]] == ["undeclared"]


async def test_pushes_elsewhere_are_ignored(world: World) -> None:
    """Pushes to another branch, a tag, another repository of the same installation, or after a
    disconnect, change no prompt; the folder setting is honoured (files outside it are not prompts)."""
    status, _ = await connect(
        world, world.a_owner, "ORG-A/Prompts", branch="release", folder="config/prompts"
    )
    assert status == 200
    in_folder = world.fake.commit(
        world.a_repo.id, {"config/prompts/greet.yaml": GREET, "prompts/farewell.yaml": FAREWELL}
    )
    assert (await push(world, in_folder))["status"] == "ignored"  # main, not release
    tagged = world.fake.push_payload(in_folder)
    tagged["ref"] = "refs/tags/v1"
    assert (await push(world, in_folder, payload=tagged))["status"] == "ignored"
    other = world.fake.commit(world.a_other_repo.id, {"config/prompts/greet.yaml": GREET}, branch="release")
    assert (await push(world, other, branch="release"))["status"] == "ignored"
    assert await prompt_names(world, world.a_owner) == []
    release = world.fake.commit(world.a_repo.id, {"config/prompts/greet.yaml": GREET}, branch="release")
    await push(world, release, branch="release")
    assert await prompt_names(world, world.a_owner) == ["greet"]
    status, body, _ = await api(world.base, "DELETE", REPOSITORY, world.a_owner)
    assert status == 200
    assert body == {"repository": "org-a/prompts"}
    later = world.fake.commit(world.a_repo.id, {"config/prompts/farewell.yaml": FAREWELL}, branch="release")
    assert (await push(world, later, branch="release"))["status"] == "ignored"
    assert await prompt_names(world, world.a_owner) == ["greet"]
    assert (await api(world.base, "GET", REPOSITORY, world.a_owner))[0] == 404
    assert "prompts.repository_disconnect" in await audit_actions(world.pool, world.a_owner.team_id)


async def test_another_accounts_repository_cannot_be_connected(world: World) -> None:
    """Team A cannot connect org-b's repository (404, as for one that does not exist, nothing
    stored or audited); B's pushes touch only B's prompts, and A's only A's."""
    for repository in ("org-b/prompts", "org-a/missing"):
        status, body = await connect(world, world.a_owner, repository)
        assert status == 404, body
    assert (await api(world.base, "GET", REPOSITORY, world.a_owner))[0] == 404
    assert "prompts.repository_connect" not in await audit_actions(world.pool, world.a_owner.team_id)
    assert (await connect(world, world.b_owner, "org-b/prompts"))[0] == 200
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    b_commit = world.fake.commit(world.b_repo.id, {"prompts/farewell.yaml": FAREWELL})
    await push(world, b_commit)
    assert await prompt_names(world, world.b_owner) == ["farewell"]
    assert await prompt_names(world, world.a_owner) == []
    # A's push syncs A's team only; B's was read with tokens of B's installation, narrowed to B's repository.
    a_commit = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET})
    await push(world, a_commit)
    assert await prompt_names(world, world.a_owner) == ["greet"]
    assert await prompt_names(world, world.b_owner) == ["farewell"]
    _, b_state, _ = await api(world.base, "GET", REPOSITORY, world.b_owner)
    assert b_state["last_sync"]["sha"] == b_commit.sha
    b_tokens = [t for t in world.fake.installation_tokens if t.installation_id == B_INSTALLATION]
    assert b_tokens
    assert all(t.repository_ids == [world.b_repo.id] for t in b_tokens)


async def test_a_member_pusher_is_the_author_and_viewers_cannot_connect(world: World) -> None:
    """The pusher who is a member of the team (same GitHub id) authors the versions; a viewer may
    read the repository setting but not change it (403)."""
    status, body = await connect(world, world.a_viewer, "org-a/prompts")
    assert status == 403, body
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    github_id = await world.pool.fetchval(
        "SELECT github_id FROM super_agent.users WHERE id = $1::uuid", world.a_owner.user_id
    )
    commit = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET})
    await push(world, commit, sender=(github_id, "a-owner"))
    assert (await versions(world, world.a_owner, "greet"))[0]["author"] == world.a_owner.user_id
    assert (await api(world.base, "GET", REPOSITORY, world.a_viewer))[0] == 200


async def test_a_version_is_proposed_as_a_pull_request(world: World) -> None:
    """A dashboard edit (v2) is proposed to the connected repository: a new branch from the base's
    head, the file replaced there (GitHub's sha rule) as `mno prompts pull` writes it, a pull request
    into the connected branch; once merged, the push back makes no version and a second proposal of
    the same version is 409."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    base = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET}, message="Seed")
    await push(world, base)
    edited = yaml.safe_load(GREET) | {"template": "Hi {{ who }}!", "commit_message": "Warmer"}
    status, saved, _ = await api(world.base, "POST", "/api/v1/prompts", world.a_owner, edited)
    assert status == 200, saved
    assert saved["prompt"]["version"] == 2
    path = "/api/v1/prompts/greet/pull-request"
    status, opened, _ = await api(world.base, "POST", path, world.a_owner, {})
    assert status == 200, opened
    assert opened["number"] == 1
    assert opened["path"] == "prompts/greet.yaml"
    assert opened["base"] == "main"
    assert opened["version"] == 2
    assert opened["url"] == "https://github.com/org-a/prompts/pull/1"
    pull = world.fake.pulls[0]
    assert (pull.head, pull.base, pull.title) == (opened["branch"], "main", "Prompt greet: v2")
    assert pull.installation_id == A_INSTALLATION
    head = world.fake.commits[world.fake.branches[world.a_repo.id][opened["branch"]]]
    assert head.parent == base.sha
    assert head.sha == opened["commit_sha"]
    written = head.files["prompts/greet.yaml"].decode()
    assert yaml.safe_load(written) == {
        "name": "greet",
        "type": "text",
        "template": "Hi {{ who }}!",
        "variables": {"who": {"type": "string"}},
    }
    put = world.fake.requests_to("PUT", "/repos/{owner}/{repo}/contents/{path}")
    assert len(put) == 1
    assert put[0].json["branch"] == opened["branch"]
    assert put[0].json["message"].startswith("Prompt greet: v2\n\nWarmer")
    token = next(t for t in world.fake.installation_tokens if t.token == put[0].credential)
    assert token.repository_ids == [world.a_repo.id]
    assert token.permissions == {"contents": "write", "pull_requests": "write"}
    assert world.fake.branches[world.a_repo.id]["main"] == base.sha  # nothing written to the base
    assert "prompts.pull_request" in await audit_actions(world.pool, world.a_owner.team_id)
    merged = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": written}, message="Merge #1")
    await push(world, merged)
    assert [v["version"] for v in await versions(world, world.a_owner, "greet")] == [2, 1]
    status, again, _ = await api(world.base, "POST", path, world.a_owner, {})
    assert status == 409, again
    assert "already holds" in again["error"]["message"]


async def test_the_dashboards_pull_request_button_opens_one_at_the_stand_in_github(world: World) -> None:
    """The prompt page's button (its fragment, as htmx posts it with the session and CSRF token)
    proposes the latest version: one pull request at the stand-in GitHub, its URL in the answer."""
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    base = world.fake.commit(world.a_repo.id, {"prompts/greet.yaml": GREET}, message="Seed")
    await push(world, base)
    edited = yaml.safe_load(GREET) | {"template": "Hello there, {{ who }}."}
    assert (await api(world.base, "POST", "/api/v1/prompts", world.a_owner, edited))[0] == 200
    async with world.pool.acquire() as conn:
        token = await sessions.create(
            conn, world.a_owner.user_id, ttl=timedelta(hours=1), ip=None, user_agent="test"
        )
    headers = {"Cookie": f"mno_session={token}", "X-MNO-Team": world.a_owner.team_id}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{world.base}/api/v1/session") as answer:
            csrf = (await answer.json())["csrf_token"]
        async with http.post(
            f"{world.base}{PULL_REQUEST_PATH}",
            json={"name": "greet"},
            headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        ) as answer:
            status, html = answer.status, await answer.text()
    assert status == 200, html
    assert 'id="pr-opened"' in html
    assert "https://github.com/org-a/prompts/pull/1" in html
    [pull] = world.fake.pulls
    assert (pull.base, pull.title) == ("main", "Prompt greet: v2")


async def test_pull_requests_are_refused_without_what_they_need(world: World) -> None:
    """No repository connected, an unknown prompt, a viewer, an installation that may not write: 404,
    404, 403, 409 naming what the App needs; once it may, an older version by number is proposed."""
    status, saved, _ = await api(world.base, "POST", "/api/v1/prompts", world.a_owner, yaml.safe_load(GREET))
    assert status == 200, saved
    path = "/api/v1/prompts/greet/pull-request"
    assert (await api(world.base, "POST", path, world.a_owner, {}))[0] == 404
    assert (await connect(world, world.a_owner, "org-a/prompts"))[0] == 200
    world.fake.commit(world.a_repo.id, {"README.md": "hi"})
    unknown = "/api/v1/prompts/nothing/pull-request"
    assert (await api(world.base, "POST", unknown, world.a_owner, {}))[0] == 404
    assert (await api(world.base, "POST", path, world.a_viewer, {}))[0] == 403
    granted = world.fake.installations[A_INSTALLATION].permissions
    world.fake.installations[A_INSTALLATION].permissions = {"metadata": "read", "contents": "read"}
    status, refused, _ = await api(world.base, "POST", path, world.a_owner, {"version": 1})
    assert status == 409, refused
    assert "contents and pull requests" in refused["error"]["message"]
    assert world.fake.pulls == []
    world.fake.installations[A_INSTALLATION].permissions = granted
    status, opened, _ = await api(world.base, "POST", path, world.a_owner, {"version": 1})
    assert status == 200, opened
    assert opened["path"] == "prompts/greet.yaml"
    assert len(world.fake.pulls) == 1
