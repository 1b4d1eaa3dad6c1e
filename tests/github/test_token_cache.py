"""Installation tokens: cached until 5 minutes before expiry, one refresh at a time, encrypted at rest."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace

import aiohttp
import pytest

from services.github import (
    AppJWTSigner,
    DecryptionFailed,
    GitHubClient,
    GitHubUnavailable,
    SecretBox,
    TokenScope,
    generate_key,
)
from services.github.token_cache import TokenStore, associated_data
from tests.fixtures.fake_github import FakeClock, FakeGitHub
from tests.github.conftest import stored_records

TOKENS = "/app/installations/{installation_id}/access_tokens"


def replica(
    fake: FakeGitHub,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    box: SecretBox,
    store: TokenStore,
) -> GitHubClient:
    """Another process sharing the token store (its own in-memory cache starts empty)."""
    return GitHubClient(http, signer, secret_box=box, token_store=store, api_url=fake.url, clock=fake.clock)


async def test_second_request_is_a_cache_hit(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """Asking twice for the same installation's token makes one POST to GitHub."""
    installation = fake_github.add_installation("acme")
    first = await github.installation_token(installation.id)
    second = await github.installation_token(installation.id)
    assert first == second
    assert len(fake_github.token_posts()) == 1
    assert first.expires_at.tzinfo is not None


async def test_token_is_refreshed_five_minutes_before_expiry(
    github: GitHubClient, fake_github: FakeGitHub, clock: FakeClock
) -> None:
    """A one-hour token is reused for 55 minutes, then replaced."""
    installation = fake_github.add_installation("acme")
    first = await github.installation_token(installation.id)
    clock.advance(55 * 60 - 1)
    assert await github.installation_token(installation.id) == first
    assert len(fake_github.token_posts()) == 1
    clock.advance(2)
    second = await github.installation_token(installation.id)
    assert second.token != first.token
    assert len(fake_github.token_posts()) == 2


async def test_fifty_concurrent_callers_make_one_request(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """Single flight: 50 callers wanting the same token share exactly one POST."""
    installation = fake_github.add_installation("acme")
    tokens = await asyncio.gather(*(github.installation_token(installation.id) for _ in range(50)))
    assert len({token.token for token in tokens}) == 1
    assert len(fake_github.token_posts()) == 1


async def test_concurrent_refresh_after_expiry_is_single_flight_too(
    github: GitHubClient, fake_github: FakeGitHub, clock: FakeClock
) -> None:
    """When a cached token goes stale under load, one POST replaces it for every caller."""
    installation = fake_github.add_installation("acme")
    await github.installation_token(installation.id)
    clock.advance(3600)
    tokens = await asyncio.gather(*(github.installation_token(installation.id) for _ in range(50)))
    assert len({token.token for token in tokens}) == 1
    assert len(fake_github.token_posts()) == 2


async def test_a_failed_refresh_is_shared_and_not_cached(
    github: GitHubClient, fake_github: FakeGitHub
) -> None:
    """One failing POST fails its 50 waiters together; the next caller tries again."""
    installation = fake_github.add_installation("acme")
    fake_github.fail_next("POST", TOKENS, 502)
    results = await asyncio.gather(
        *(github.installation_token(installation.id) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(result, GitHubUnavailable) for result in results)
    assert len(fake_github.token_posts()) == 1
    assert (await github.installation_token(installation.id)).token
    assert len(fake_github.token_posts()) == 2


async def test_scopes_in_another_order_share_one_entry(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """The scope is normalised: same repositories and permissions in another order hit the cache."""
    installation = fake_github.add_installation("acme")
    for name in ("api", "web", "docs"):
        fake_github.add_repository(installation.id, name)
    one = TokenScope.of(repositories=["web", "api"], permissions={"issues": "write", "contents": "read"})
    other = TokenScope.of(
        repositories=["api", "web", "api"], permissions={"contents": "read", "issues": "write"}
    )
    assert one == other
    assert one.key == other.key
    first = await github.installation_token(installation.id, one)
    assert await github.installation_token(installation.id, other) == first
    (post,) = fake_github.token_posts()
    assert post.json == {
        "repositories": ["api", "web"],
        "permissions": {"contents": "read", "issues": "write"},
    }


async def test_different_scopes_are_different_entries(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """A narrowed token is never handed out for the whole installation, or for another scope."""
    installation = fake_github.add_installation("acme")
    api = fake_github.add_repository(installation.id, "api")
    fake_github.add_repository(installation.id, "web")
    whole = await github.installation_token(installation.id)
    by_name = await github.installation_token(installation.id, TokenScope.of(repositories=["api"]))
    by_id = await github.installation_token(installation.id, TokenScope.of(repository_ids=[api.id]))
    assert len({whole.token, by_name.token, by_id.token}) == 3
    assert len({whole.scope_key, by_name.scope_key, by_id.scope_key}) == 3
    assert [post.json for post in fake_github.token_posts()] == [
        {},
        {"repositories": ["api"]},
        {"repository_ids": [api.id]},
    ]
    repositories = await github.list_installation_repositories(
        installation.id, scope=TokenScope.of(repositories=["api"])
    )
    assert [repository.name for repository in repositories] == ["api"]


def test_scope_key_is_fixed_width_and_validated() -> None:
    """Scope keys stay index-sized however long the scope; invalid scopes are refused."""
    wide = TokenScope.of(repositories=[f"repository-{n}" for n in range(500)])
    assert len(wide.key) == len(TokenScope().key) == len("sha256:") + 64
    with pytest.raises(ValueError, match="level"):
        TokenScope.of(permissions={"contents": "everything"})
    with pytest.raises(ValueError, match="positive"):
        TokenScope.of(repository_ids=[0])


async def test_store_never_holds_the_plaintext(
    github: GitHubClient, fake_github: FakeGitHub, token_store: TokenStore
) -> None:
    """The persisted entry is ciphertext bound to its record; reprs never show a token."""
    installation = fake_github.add_installation("acme")
    token = await github.installation_token(installation.id)
    (entry,) = await stored_records(token_store)
    secret = token.token.encode()
    assert (entry.installation_id, entry.scope_key) == (installation.id, token.scope_key)
    assert entry.expires_at == token.expires_at
    assert secret not in entry.ciphertext
    assert base64.b64encode(secret) not in entry.ciphertext
    assert token.token not in repr(entry) + repr(token) + repr(await stored_records(token_store))


async def test_swapped_ciphertext_fails_and_is_never_served(
    github: GitHubClient,
    fake_github: FakeGitHub,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
    token_store: TokenStore,
    replica_store: TokenStore,
) -> None:
    """A ciphertext moved to another installation's record does not decrypt; a new token is minted."""
    acme = fake_github.add_installation("acme")
    globex = fake_github.add_installation("globex")
    acme_token = await github.installation_token(acme.id)
    await github.installation_token(globex.id)
    entries = {entry.installation_id: entry for entry in await stored_records(token_store)}
    await token_store.put(replace(entries[globex.id], ciphertext=entries[acme.id].ciphertext))
    with pytest.raises(DecryptionFailed):
        secret_box.decrypt(
            entries[acme.id].ciphertext, associated_data(globex.id, entries[globex.id].scope_key)
        )

    other_process = replica(fake_github, http, signer, secret_box, replica_store)
    globex_token = await other_process.installation_token(globex.id)
    assert globex_token.token != acme_token.token
    assert len(fake_github.token_posts(globex.id)) == 2


async def test_another_replica_reuses_the_stored_token(
    github: GitHubClient,
    fake_github: FakeGitHub,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
    token_store: TokenStore,
    replica_store: TokenStore,
) -> None:
    """A process sharing the store and keyring decrypts the stored token instead of minting."""
    installation = fake_github.add_installation("acme")
    fake_github.installation_token_length = 700  # opaque and long: nothing assumes a width
    token = await github.installation_token(installation.id)
    assert len(token.token) == 704
    again = await replica(fake_github, http, signer, secret_box, replica_store).installation_token(
        installation.id
    )
    assert again == token
    assert len(fake_github.token_posts()) == 1


async def test_entry_sealed_with_an_unknown_key_is_a_miss(
    github: GitHubClient,
    fake_github: FakeGitHub,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    token_store: TokenStore,
    replica_store: TokenStore,
) -> None:
    """A replica without the sealing key mints a new token rather than failing."""
    installation = fake_github.add_installation("acme")
    await github.installation_token(installation.id)
    stranger = SecretBox.from_base64({"k9": generate_key()}, primary="k9")
    assert await replica(fake_github, http, signer, stranger, replica_store).installation_token(
        installation.id
    )
    assert len(fake_github.token_posts()) == 2


async def test_revoked_token_is_replaced_once(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """A cached token GitHub refuses with 401 is discarded and the request retried with a new one."""
    installation = fake_github.add_installation("acme")
    fake_github.add_repository(installation.id, "api")
    await github.list_installation_repositories(installation.id)
    fake_github.installation_tokens[0].revoked = True
    repositories = await github.list_installation_repositories(installation.id)
    assert [repository.name for repository in repositories] == ["api"]
    assert len(fake_github.token_posts()) == 2


async def test_forgetting_an_installation_clears_memory_and_store(
    github: GitHubClient, fake_github: FakeGitHub, token_store: TokenStore
) -> None:
    """After an uninstall, no token of the installation remains anywhere."""
    installation = fake_github.add_installation("acme")
    await github.installation_token(installation.id)
    await github.installation_token(installation.id, TokenScope.of(permissions={"contents": "read"}))
    await github.tokens.forget_installation(installation.id)
    assert await stored_records(token_store) == []
    await github.installation_token(installation.id)
    assert len(fake_github.token_posts()) == 3
