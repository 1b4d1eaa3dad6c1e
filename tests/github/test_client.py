"""GitHubClient against the stand-in GitHub: typed answers, pagination, headers, error mapping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from services.github import (
    AppJWTSigner,
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUnexpectedResponse,
    SecretBox,
    TokenScope,
)
from tests.fixtures.fake_github import FakeClock, FakeGitHub
from tests.fixtures.stack import free_port


async def test_get_installation_returns_the_fields_we_use(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """``GET /app/installations/{id}`` parses into a frozen Installation."""
    seeded = fake_github.add_installation(
        "acme", permissions={"contents": "read"}, repository_selection="selected"
    )
    installation = await github.get_installation(seeded.id)
    assert installation.id == seeded.id
    assert (installation.account.login, installation.account.type) == ("acme", "Organization")
    assert installation.app_id == fake_github.app_id
    assert installation.repository_selection == "selected"
    assert installation.permissions == {"contents": "read"}
    assert installation.suspended_at is None
    with pytest.raises(Exception, match="frozen"):
        installation.id = 1  # type: ignore[misc]


async def test_requests_carry_user_agent_accept_and_api_version(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """Every API request names us, asks for GitHub's JSON and pins the REST API version."""
    seeded = fake_github.add_installation("acme")
    await github.get_installation(seeded.id)
    (request,) = fake_github.requests_to("GET", "/app/installations/{installation_id}")
    assert request.headers["user-agent"] == "mno-tests"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"


async def test_enterprise_base_url_with_a_path(
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
) -> None:
    """A GitHub Enterprise style base URL (``/api/v3``) is honoured, pagination included."""
    installation = fake_github.add_installation("acme")
    for n in range(3):
        fake_github.add_repository(installation.id, f"repo-{n}")
    enterprise = GitHubClient(
        http, signer, secret_box=secret_box, api_url=f"{fake_github.url}/api/v3/", clock=clock
    )
    assert (await enterprise.get_installation(installation.id)).id == installation.id
    repositories = await enterprise.list_installation_repositories(installation.id, per_page=2)
    assert [repository.name for repository in repositories] == ["repo-0", "repo-1", "repo-2"]
    assert all(request.path.startswith("/api/v3/") for request in fake_github.requests)


async def test_installation_repositories_follow_link_pages(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """``GET /installation/repositories`` is read page by page through the Link header."""
    installation = fake_github.add_installation("acme")
    for n in range(5):
        fake_github.add_repository(installation.id, f"repo-{n}", private=n % 2 == 0)
    repositories = await github.list_installation_repositories(installation.id, per_page=2)
    assert [repository.full_name for repository in repositories] == [f"acme/repo-{n}" for n in range(5)]
    assert [repository.private for repository in repositories] == [True, False, True, False, True]
    pages = fake_github.requests_to("GET", "/installation/repositories")
    assert [request.query.get("page", "1") for request in pages] == ["1", "2", "3"]
    assert all(request.query["per_page"] == "2" for request in pages)
    assert {request.credential for request in pages} == {fake_github.installation_tokens[0].token}


async def test_user_installations_are_only_the_users_own(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """``GET /user/installations`` with a user token lists, across pages, what that user can access."""
    mine = [fake_github.add_installation(f"org-{n}") for n in range(3)]
    fake_github.add_installation("someone-elses")
    fake_github.add_user("octocat", installation_ids=[installation.id for installation in mine])
    token = fake_github.issue_user_token("octocat")
    installations = await github.list_user_installations(token, per_page=2)
    assert [installation.id for installation in installations] == [installation.id for installation in mine]
    assert len(fake_github.requests_to("GET", "/user/installations")) == 2


async def test_app_installations_are_listed(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """``GET /app/installations`` lists every installation of the App (as the App)."""
    seeded = [fake_github.add_installation(f"org-{n}") for n in range(3)]
    installations = await github.list_app_installations(per_page=2)
    assert [installation.id for installation in installations] == [installation.id for installation in seeded]


async def test_authenticated_user(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """``GET /user`` identifies the owner of a user token."""
    fake_github.add_user("octocat", name="The Octocat", email="octocat@example.com")
    user = await github.get_authenticated_user(fake_github.issue_user_token("octocat"))
    assert (user.login, user.name, user.email, user.type) == (
        "octocat",
        "The Octocat",
        "octocat@example.com",
        "User",
    )


async def test_marketplace_plans_and_accounts(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """Plans and the accounts on a plan are read across pages, with purchases and pending changes."""
    free = fake_github.add_plan("Free", price_model="FREE")
    team = fake_github.add_plan(
        "Team", monthly_price_in_cents=4900, price_model="flat-rate", has_free_trial=True
    )
    seats = fake_github.add_plan(
        "Seats", monthly_price_in_cents=900, price_model="PER_UNIT", unit_name="seat"
    )
    for n in range(3):
        fake_github.add_marketplace_account(f"org-{n}", team.id, on_free_trial=n == 0)
    downgrading = fake_github.add_marketplace_account(
        "shrinking", team.id, pending_plan_id=free.id, pending_effective_date="2030-03-01T00:00:00Z"
    )
    plans = await github.list_marketplace_plans(per_page=2)
    assert [(plan.name, plan.price_model) for plan in plans] == [
        ("Free", "FREE"),
        ("Team", "FLAT_RATE"),
        ("Seats", "PER_UNIT"),
    ]
    assert plans[2].unit_name == "seat"
    assert plans[1].monthly_price_in_cents == 4900
    accounts = await github.list_marketplace_accounts_for_plan(team.id, per_page=3)
    assert [account.login for account in accounts] == ["org-0", "org-1", "org-2", "shrinking"]
    assert accounts[0].marketplace_purchase.on_free_trial
    assert accounts[0].marketplace_purchase.plan.id == team.id
    pending = accounts[3].marketplace_pending_change
    assert pending is not None
    assert pending.plan.id == free.id
    assert pending.effective_date == datetime(2030, 3, 1, tzinfo=UTC)
    account = await github.get_marketplace_account(downgrading.id)
    assert account.organization_billing_email == "billing@shrinking.example"
    assert len(fake_github.requests_to("GET", "/marketplace_listing/plans/{plan_id}/accounts")) == 2
    assert seats.id in {plan.id for plan in plans}


async def test_stubbed_marketplace_endpoints_by_flag(
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
) -> None:
    """The stubbed flag (per client, overridable per call) reads ``/marketplace_listing/stubbed/...``."""
    real = fake_github.add_plan("Real")
    stub = fake_github.add_plan("Stub", stubbed=True)
    account = fake_github.add_marketplace_account("stub-org", stub.id, stubbed=True)
    client = GitHubClient(
        http, signer, secret_box=secret_box, api_url=fake_github.url, marketplace_stubbed=True, clock=clock
    )
    assert [plan.name for plan in await client.list_marketplace_plans()] == ["Stub"]
    assert [a.login for a in await client.list_marketplace_accounts_for_plan(stub.id)] == ["stub-org"]
    assert (await client.get_marketplace_account(account.id)).login == "stub-org"
    assert [plan.name for plan in await client.list_marketplace_plans(stubbed=False)] == ["Real"]
    assert fake_github.requests_to("GET", "/marketplace_listing/stubbed/plans")
    assert fake_github.requests_to("GET", "/marketplace_listing/stubbed/accounts/{account_id}")
    assert real.id != stub.id


async def test_401_is_an_auth_error(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """A refused user token raises GitHubAuthError carrying GitHub's message and the status."""
    with pytest.raises(GitHubAuthError, match="Bad credentials") as raised:
        await github.get_authenticated_user("ghu_not-a-real-token")
    assert raised.value.status == 401
    assert isinstance(raised.value, GitHubError)


async def test_404_is_not_found(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """An unknown installation or an account without a purchase raises GitHubNotFound."""
    with pytest.raises(GitHubNotFound):
        await github.get_installation(987654)
    with pytest.raises(GitHubNotFound):
        await github.get_marketplace_account(987654)


async def test_primary_rate_limit_carries_the_reset_time(
    github: GitHubClient, fake_github: FakeGitHub, clock: FakeClock
) -> None:
    """403 with x-ratelimit-remaining 0 raises GitHubRateLimited at x-ratelimit-reset."""
    installation = fake_github.add_installation("acme")
    reset = int(clock()) + 1234
    fake_github.rate_limit_next("GET", "/app/installations/{installation_id}", reset_at=reset)
    with pytest.raises(GitHubRateLimited) as raised:
        await github.get_installation(installation.id)
    assert raised.value.status == 403
    assert raised.value.reset_at == datetime.fromtimestamp(reset, UTC)


async def test_secondary_rate_limit_uses_retry_after(
    github: GitHubClient, fake_github: FakeGitHub, clock: FakeClock
) -> None:
    """403 or 429 with retry-after raises GitHubRateLimited that many seconds from now."""
    installation = fake_github.add_installation("acme")
    fake_github.add_repository(installation.id, "api")
    now = datetime.fromtimestamp(clock(), UTC)
    fake_github.rate_limit_next("GET", "/installation/repositories", retry_after=90, status=429)
    with pytest.raises(GitHubRateLimited) as raised:
        await github.list_installation_repositories(installation.id)
    assert raised.value.status == 429
    assert raised.value.reset_at == now + timedelta(seconds=90)


async def test_other_403_is_forbidden(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """A 403 that is not a rate limit (here: a suspended installation) raises GitHubForbidden."""
    installation = fake_github.add_installation("acme", suspended=True)
    with pytest.raises(GitHubForbidden, match="suspended"):
        await github.list_installation_repositories(installation.id)


async def test_5xx_and_unreachable_are_unavailable(
    github: GitHubClient,
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
) -> None:
    """GitHub's 5xx answers and a connection that fails both raise GitHubUnavailable."""
    installation = fake_github.add_installation("acme")
    fake_github.fail_next("GET", "/app/installations/{installation_id}", 503)
    with pytest.raises(GitHubUnavailable) as raised:
        await github.get_installation(installation.id)
    assert raised.value.status == 503
    nowhere = GitHubClient(
        http, signer, secret_box=secret_box, api_url=f"http://127.0.0.1:{free_port()}", clock=clock
    )
    with pytest.raises(GitHubUnavailable):
        await nowhere.get_installation(installation.id)


async def test_undocumented_shape_is_unexpected_response(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """A 200 whose body lacks required fields raises GitHubUnexpectedResponse, not a pydantic error."""
    installation = fake_github.add_installation("acme")
    fake_github.fail_next("GET", "/app/installations/{installation_id}", 200, body={"id": installation.id})
    with pytest.raises(GitHubUnexpectedResponse, match="installation"):
        await github.get_installation(installation.id)


async def test_raw_access_as_each_identity(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """as_app / as_installation / as_user give JSON access with the matching credential."""
    installation = fake_github.add_installation("acme")
    fake_github.add_repository(installation.id, "api")
    fake_github.add_user("octocat")
    assert (await github.as_app().getitem("/app/installations/{id}", {"id": installation.id}))[
        "id"
    ] == installation.id
    names = [
        repo["name"]
        async for repo in github.as_installation(installation.id).getiter(
            "/installation/repositories", iterable_key="repositories"
        )
    ]
    assert names == ["api"]
    assert (await github.as_user(fake_github.issue_user_token("octocat")).getitem("/user"))[
        "login"
    ] == "octocat"


async def test_scope_outside_the_installation_is_a_422(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """Asking for a token on a repository the installation cannot see raises GitHubError with 422."""
    installation = fake_github.add_installation("acme")
    fake_github.add_repository(installation.id, "api")
    with pytest.raises(GitHubError, match="not accessible") as raised:
        await github.installation_token(installation.id, TokenScope.of(repositories=["secret-plans"]))
    assert raised.value.status == 422
    with pytest.raises(GitHubError) as raised:
        await github.installation_token(
            installation.id, TokenScope.of(permissions={"administration": "write"})
        )
    assert raised.value.status == 422


async def test_git_tree_and_blobs_are_read_with_a_repository_scoped_token(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """A recursive tree lists nested files with git's blob SHA-1s; blobs come back as their bytes,
    through a token narrowed to the repository with contents: read."""
    installation = fake_github.add_installation("acme")
    repository = fake_github.add_repository(installation.id, "prompts")
    commit = fake_github.commit(
        repository.id, {"prompts/a.yaml": "name: a\n", "README.md": "hi", "prompts/deep/b.yaml": "é"}
    )
    scope = TokenScope.of(repository_ids=[repository.id], permissions={"contents": "read"})
    tree = await github.get_tree(installation.id, "acme/prompts", commit.sha, recursive=True, scope=scope)
    blobs = {entry.path: entry for entry in tree.tree if entry.type == "blob"}
    assert sorted(blobs) == ["README.md", "prompts/a.yaml", "prompts/deep/b.yaml"]
    assert blobs["prompts/a.yaml"].sha == hashlib.sha1(b"blob 8\0name: a\n").hexdigest()
    assert await github.get_blob(
        installation.id, "acme/prompts", blobs["prompts/deep/b.yaml"].sha, scope=scope
    ) == ("é".encode())
    shallow = await github.get_tree(installation.id, "acme/prompts", commit.sha, recursive=False, scope=scope)
    assert sorted(entry.path for entry in shallow.tree) == ["README.md", "prompts"]
    assert fake_github.installation_tokens[-1].repository_ids == [repository.id]
    assert fake_github.installation_tokens[-1].permissions == {"contents": "read"}


async def test_another_installations_repository_is_not_found(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """A token of one installation cannot read another installation's repository: GitHub's 404."""
    mine = fake_github.add_installation("acme")
    fake_github.add_repository(mine.id, "api")
    other = fake_github.add_installation("evil")
    theirs = fake_github.add_repository(other.id, "secret")
    commit = fake_github.commit(theirs.id, {"prompts/x.yaml": "name: x\n"})
    with pytest.raises(GitHubNotFound):
        await github.get_tree(mine.id, "evil/secret", commit.sha, recursive=True)
