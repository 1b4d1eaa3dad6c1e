"""The App's credentials from the `github` configuration section."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from services.github import GitHubAppCredentials, GitHubClient, GitHubConfigError, SecretBox
from shared.config import GitHubSettings
from tests.fixtures.fake_github import FakeClock, FakeGitHub, generate_private_key_pem


async def test_credentials_from_settings_sign_for_github(
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    secret_box: SecretBox,
    tmp_path: Path,
) -> None:
    """Inline keys come first, then key files; the client id is the issuer; the fake accepts it."""
    key_file = tmp_path / "previous.pem"
    key_file.write_text(fake_github.private_key_pem)
    newest = generate_private_key_pem()
    settings = GitHubSettings(
        client_id=fake_github.client_id,
        app_id=fake_github.app_id,
        client_secret=fake_github.client_secret,
        private_keys=[newest],
        private_key_files=[key_file],
        api_url=fake_github.url,
        web_url=fake_github.url,
    )
    credentials = GitHubAppCredentials.from_settings(settings)
    assert credentials.private_keys == (newest, fake_github.private_key_pem)
    assert credentials.jwt_issuer == fake_github.client_id
    assert fake_github.client_secret not in repr(credentials)
    assert newest not in repr(credentials)
    signer = credentials.signer(clock=clock)
    client = GitHubClient(http, signer, secret_box=secret_box, api_url=credentials.api_url, clock=clock)
    installation = fake_github.add_installation("acme")
    assert (await client.get_installation(installation.id)).id == installation.id  # via the second key


def test_app_id_is_the_fallback_issuer() -> None:
    """Without a client id the numeric App id signs; with neither, a config error names the key."""
    assert GitHubAppCredentials(None, 42, None, ()).jwt_issuer == "42"
    with pytest.raises(GitHubConfigError, match="client_id"):
        _ = GitHubAppCredentials(None, None, None, ()).jwt_issuer


def test_unreadable_key_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing key file is reported with the configuration key and path."""
    settings = GitHubSettings(client_id="Iv1", private_key_files=[tmp_path / "missing.pem"])
    with pytest.raises(GitHubConfigError, match="private_key_files"):
        GitHubAppCredentials.from_settings(settings)
