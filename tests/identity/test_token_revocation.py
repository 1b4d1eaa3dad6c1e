"""On deactivation the installation tokens we hold are revoked at GitHub, then forgotten."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import asyncpg
import nats
import pytest

from mno.stack import NatsServer
from services.github import AppJWTSigner, GitHubClient, SecretBox, generate_key
from services.identity import lifecycle
from services.identity.installation_tokens import PostgresTokenStore
from services.identity.installations import (
    GitHubAccountRef,
    InstallationRef,
    ensure_account,
    upsert_installation,
)
from shared.bus.client import Bus
from shared.bus.streams import ensure_streams
from shared.config.models import JetStreamSettings
from tests.fixtures.fake_github import FakeGitHub


@pytest.fixture
def pool(migrated_pool: asyncpg.Pool) -> asyncpg.Pool:
    return migrated_pool


async def test_deactivation_revokes_installation_tokens_at_github(
    pool: asyncpg.Pool, fake_github: FakeGitHub, isolated_nats: NatsServer
) -> None:
    """The lifecycle job revokes each cached installation token with DELETE /installation/token and
    drops the encrypted copies before announcing the deactivation."""
    installation = fake_github.add_installation("acme", account_id=77, account_type="Organization")
    box = SecretBox.from_base64({"k": generate_key()}, primary="k")
    nc = await nats.connect(isolated_nats.url)
    await ensure_streams(nc.jetstream(), JetStreamSettings())
    async with aiohttp.ClientSession() as session:
        github = GitHubClient(
            session,
            AppJWTSigner.from_pem(fake_github.client_id, [fake_github.private_key_pem]),
            secret_box=box,
            token_store=PostgresTokenStore(pool),
            api_url=fake_github.url,
        )
        token = await github.installation_token(installation.id)
        async with pool.acquire() as conn:
            account_ref = GitHubAccountRef(id=77, login="acme", type="Organization")
            account_id = await ensure_account(conn, account_ref)
            await upsert_installation(
                conn, InstallationRef(id=installation.id, account=account_ref), account_id
            )
            assert await lifecycle.deactivate_account(
                conn, str(account_id), reason="cancelled", retention=timedelta(days=30)
            )
        assert await pool.fetchval("SELECT count(*) FROM super_agent.installation_tokens") == 1

        announced = await lifecycle.announce_deactivations(
            pool, Bus(nc, source="test", request_timeout=2), lifecycle.GitHubTokens(github, box)
        )
    await nc.close()
    assert announced == 1
    assert [t.revoked for t in fake_github.installation_tokens if t.token == token.token] == [True]
    assert await pool.fetchval("SELECT count(*) FROM super_agent.installation_tokens") == 0
