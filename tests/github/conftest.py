"""Fixtures for the GitHub package: the stand-in GitHub, a shared clock, a client wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.github import AppJWTSigner, GitHubClient, InMemoryTokenStore, SecretBox, generate_key
from tests.fixtures.fake_github import FakeClock, FakeGitHub


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


@pytest.fixture
def token_store() -> InMemoryTokenStore:
    return InMemoryTokenStore()


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
    token_store: InMemoryTokenStore,
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
