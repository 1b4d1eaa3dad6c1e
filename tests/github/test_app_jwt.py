"""The App JWT: exact claims, accepted by GitHub's stand-in, and the key-rotation fallback."""

from __future__ import annotations

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.github import (
    AppJWTSigner,
    GitHubAuthError,
    GitHubClient,
    GitHubConfigError,
    SecretBox,
    call_with_app_jwt,
)
from tests.fixtures.fake_github import FakeClock, FakeGitHub, generate_private_key_pem, public_key_of

NOW = 1_750_000_000


def client_with(
    fake: FakeGitHub, http: aiohttp.ClientSession, signer: AppJWTSigner, box: SecretBox
) -> GitHubClient:
    return GitHubClient(http, signer, secret_box=box, api_url=fake.url, clock=fake.clock)


def test_claims_are_exact(fake_github: FakeGitHub) -> None:
    """iat is now - 60 s, exp now + 9 min, iss the client id; the token verifies as RS256."""
    signer = AppJWTSigner.from_pem("Iv23liClient", [fake_github.private_key_pem], clock=FakeClock(NOW))
    token = signer.sign()
    assert signer.claims() == {"iat": NOW - 60, "exp": NOW + 540, "iss": "Iv23liClient"}
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, public_key_of(fake_github.private_key_pem), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims == {"iat": NOW - 60, "exp": NOW + 540, "iss": "Iv23liClient"}
    assert claims["exp"] - NOW <= 600


def test_app_id_is_accepted_as_issuer(fake_github: FakeGitHub) -> None:
    """A numeric App id is sent as a string ``iss``."""
    signer = AppJWTSigner.from_pem(424242, [fake_github.private_key_pem], clock=FakeClock(NOW))
    assert signer.claims()["iss"] == "424242"


def test_lifetime_beyond_ten_minutes_is_refused(fake_github: FakeGitHub) -> None:
    """A signer cannot be configured to issue JWTs that GitHub would refuse as too long-lived."""
    with pytest.raises(GitHubConfigError):
        AppJWTSigner.from_pem("Iv1", [fake_github.private_key_pem], lifetime_seconds=601)


def test_unreadable_key_is_a_config_error_that_does_not_echo_the_key() -> None:
    """A broken PEM is reported by position, never by content."""
    pem = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(GitHubConfigError, match="#2") as raised:
        AppJWTSigner.from_pem("Iv1", [generate_private_key_pem(), pem])
    assert "c2VjcmV0" not in str(raised.value)


def test_more_than_two_keys_are_refused(fake_github: FakeGitHub) -> None:
    """At most the current and the previous key are configured."""
    pem = fake_github.private_key_pem
    with pytest.raises(GitHubConfigError):
        AppJWTSigner.from_pem("Iv1", [pem, pem, pem])


async def test_fake_accepts_our_jwt(github: GitHubClient, fake_github: FakeGitHub) -> None:
    """GitHub's stand-in verifies the client's JWT and answers as the App."""
    installation = fake_github.add_installation("acme")
    assert (await github.get_installation(installation.id)).id == installation.id
    (request,) = fake_github.requests_to("GET", "/app/installations/{installation_id}")
    assert request.headers["authorization"].lower().startswith("bearer ")
    assert request.credential is not None
    assert fake_github.jwt_signed_by(request.credential, fake_github.private_key_pem)


async def test_fake_accepts_app_id_issuer(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """A JWT issued by the numeric App id is accepted too."""
    installation = fake_github.add_installation("acme")
    signer = AppJWTSigner.from_pem(fake_github.app_id, [fake_github.private_key_pem], clock=clock)
    assert (await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)).id


async def test_fake_rejects_an_expired_jwt(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """A JWT whose exp has passed is answered 401 and raised as GitHubAuthError."""
    installation = fake_github.add_installation("acme")
    stale = FakeClock(clock() - 600)  # signed 10 minutes ago: exp passed a minute ago
    signer = AppJWTSigner.from_pem(fake_github.client_id, [fake_github.private_key_pem], clock=stale)
    with pytest.raises(GitHubAuthError) as raised:
        await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)
    assert raised.value.status == 401


async def test_fake_rejects_a_forged_jwt(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """A JWT signed with a key the App does not have is answered 401."""
    installation = fake_github.add_installation("acme")
    signer = AppJWTSigner.from_pem(fake_github.client_id, [generate_private_key_pem()], clock=clock)
    with pytest.raises(GitHubAuthError):
        await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)


@pytest.mark.parametrize(
    ("iat_offset", "exp_offset", "issuer"),
    [
        pytest.param(-60, 660, None, id="exp-11-minutes-ahead"),
        pytest.param(120, 500, None, id="iat-in-the-future"),
        pytest.param(-60, 540, "someone-else", id="wrong-issuer"),
        pytest.param(None, 540, None, id="no-iat"),
    ],
)
async def test_fake_rejects_jwts_github_would_refuse(
    fake_github: FakeGitHub,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    iat_offset: int | None,
    exp_offset: int,
    issuer: str | None,
) -> None:
    """The stand-in enforces GitHub's time window and issuer rules, not only the signature."""
    now = int(clock())
    claims: dict[str, object] = {"exp": now + exp_offset, "iss": issuer or fake_github.client_id}
    if iat_offset is not None:
        claims["iat"] = now + iat_offset
    key = serialization.load_pem_private_key(fake_github.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    token = jwt.encode(claims, key, algorithm="RS256")
    async with http.get(
        f"{fake_github.url}/app/installations/1", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 401


async def test_rotation_falls_back_to_the_second_key_once(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """When GitHub refuses the newest key's JWT, the same call is retried once with the second key."""
    installation = fake_github.add_installation("acme")
    unregistered = generate_private_key_pem()
    signer = AppJWTSigner.from_pem(
        fake_github.client_id, [unregistered, fake_github.private_key_pem], clock=clock
    )
    assert (await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)).id
    first, second = fake_github.requests_to("GET", "/app/installations/{installation_id}")
    assert first.credential is not None
    assert second.credential is not None
    assert fake_github.jwt_signed_by(first.credential, unregistered)
    assert fake_github.jwt_signed_by(second.credential, fake_github.private_key_pem)


async def test_rotation_uses_only_the_newest_key_when_github_accepts_it(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """With the new key registered on GitHub, one request is made, signed with the new key."""
    installation = fake_github.add_installation("acme")
    new_key = generate_private_key_pem()
    fake_github.register_app_key(new_key)
    signer = AppJWTSigner.from_pem(fake_github.client_id, [new_key, fake_github.private_key_pem], clock=clock)
    await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)
    (request,) = fake_github.requests_to("GET", "/app/installations/{installation_id}")
    assert request.credential is not None
    assert fake_github.jwt_signed_by(request.credential, new_key)


async def test_rotation_gives_up_after_the_second_key(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """If both keys are refused, exactly two requests are made and the 401 is raised."""
    installation = fake_github.add_installation("acme")
    fake_github.revoke_app_key(fake_github.private_key_pem)
    signer = AppJWTSigner.from_pem(
        fake_github.client_id, [generate_private_key_pem(), fake_github.private_key_pem], clock=clock
    )
    with pytest.raises(GitHubAuthError):
        await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)
    assert len(fake_github.requests_to("GET", "/app/installations/{installation_id}")) == 2


async def test_single_key_is_not_retried(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession, secret_box: SecretBox
) -> None:
    """With one key configured, a refused JWT costs exactly one request."""
    installation = fake_github.add_installation("acme")
    signer = AppJWTSigner.from_pem(fake_github.client_id, [generate_private_key_pem()], clock=clock)
    with pytest.raises(GitHubAuthError):
        await client_with(fake_github, http, signer, secret_box).get_installation(installation.id)
    assert len(fake_github.requests_to("GET", "/app/installations/{installation_id}")) == 1


async def test_call_with_app_jwt_helper_retries_with_the_second_key(
    fake_github: FakeGitHub, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    """The standalone helper retries a refused call once, with the second key's JWT."""
    installation = fake_github.add_installation("acme")
    signer = AppJWTSigner.from_pem(
        fake_github.client_id, [generate_private_key_pem(), fake_github.private_key_pem], clock=clock
    )
    used: list[str] = []

    async def fetch(token: str) -> int:
        used.append(token)
        url = f"{fake_github.url}/app/installations/{installation.id}"
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status == 401:
                raise GitHubAuthError("refused", status=401)
            return response.status

    assert await call_with_app_jwt(signer, fetch) == 200
    assert len(used) == 2
    assert fake_github.jwt_signed_by(used[1], fake_github.private_key_pem)
