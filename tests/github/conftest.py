"""Fixtures for the GitHub package: the stand-in GitHub, a shared clock, a client wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.github import AppJWTSigner, GitHubClient, InMemoryTokenStore, SecretBox, generate_key
from services.github.token_cache import StoredToken, TokenStore
from services.identity.installation_tokens import PostgresTokenStore
from shared.db.migrations import migrate_all
from shared.db.postgres import create_pool
from tests.fixtures.fake_github import FakeClock, FakeGitHub
from tests.fixtures.stack import scratch_database


@pytest.fixture
def clock(fake_github: FakeGitHub) -> FakeClock:
    """One clock for the fake GitHub and the code under test, so tests can move time."""
    shared = FakeClock()
    fake_github.clock = shared
    return shared


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def secret_box() -> SecretBox:
    return SecretBox.from_base64({"k1": generate_key()}, primary="k1")


@pytest.fixture(params=["memory", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Every token-cache test runs on the in-memory store and on PostgreSQL, which production uses."""
    return str(request.param)


@pytest.fixture
async def token_database(store_kind: str, postgres_dsn: str) -> AsyncIterator[str | None]:
    """A migrated database of this test's own for the PostgreSQL store (None for the in-memory one)."""
    if store_kind == "memory":
        yield None
        return
    async with scratch_database(postgres_dsn) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2, command_timeout=10)
        try:
            await migrate_all(pool)
        finally:
            await pool.close()
        yield dsn


@pytest.fixture
async def token_store(token_database: str | None) -> AsyncIterator[TokenStore]:
    if token_database is None:
        yield InMemoryTokenStore()
        return
    pool = await create_pool(token_database, min_size=1, max_size=2, command_timeout=10)
    try:
        yield PostgresTokenStore(pool)
    finally:
        await pool.close()


@pytest.fixture
async def replica_store(token_database: str | None, token_store: TokenStore) -> AsyncIterator[TokenStore]:
    """The store as another replica sees it: the same dictionary, or the same database through a pool
    of its own (another process's connections)."""
    if token_database is None:
        yield token_store
        return
    pool = await create_pool(token_database, min_size=1, max_size=2, command_timeout=10)
    try:
        yield PostgresTokenStore(pool)
    finally:
        await pool.close()


async def stored_records(store: TokenStore) -> list[StoredToken]:
    """Every entry a store holds, read the way an operator would (the table, for PostgreSQL)."""
    if isinstance(store, InMemoryTokenStore):
        return store.records()
    assert isinstance(store, PostgresTokenStore)
    rows = await store.pool.fetch(
        "SELECT installation_id, scope_key, ciphertext, expires_at FROM super_agent.installation_tokens "
        "ORDER BY installation_id, scope_key"
    )
    return [
        StoredToken(r["installation_id"], r["scope_key"], bytes(r["ciphertext"]), r["expires_at"])
        for r in rows
    ]


@pytest.fixture
def signer(fake_github: FakeGitHub, clock: FakeClock) -> AppJWTSigner:
    return AppJWTSigner.from_pem(fake_github.client_id, [fake_github.private_key_pem], clock=clock)


@pytest.fixture
def github(
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    signer: AppJWTSigner,
    secret_box: SecretBox,
    token_store: TokenStore,
) -> GitHubClient:
    return GitHubClient(
        http,
        signer,
        secret_box=secret_box,
        token_store=token_store,
        api_url=fake_github.url,
        user_agent="mno-tests",
        clock=clock,
    )
