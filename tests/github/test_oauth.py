"""OAuth web flow for user tokens: authorize URL, PKCE, code exchange, refresh rotation, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from services.github import (
    GitHubAuthError,
    GitHubClient,
    GitHubOAuth,
    GitHubUnavailable,
    OAuthError,
    build_authorize_url,
    code_challenge_s256,
    generate_pkce,
    generate_state,
)
from services.github.oauth import _parse_token_answer
from tests.fixtures.fake_github import FakeClock, FakeGitHub

REDIRECT = "https://mno.example/auth/github/callback"
TOKEN_ROUTE = "/login/oauth/access_token"


@pytest.fixture
async def oauth(fake_github: FakeGitHub, clock: FakeClock) -> AsyncIterator[GitHubOAuth]:
    async with aiohttp.ClientSession() as session:
        yield GitHubOAuth(
            session,
            client_id=fake_github.client_id,
            client_secret=fake_github.client_secret,
            web_url=fake_github.url,
            clock=clock,
        )


async def authorize(
    http: aiohttp.ClientSession, fake: FakeGitHub, oauth: GitHubOAuth, login: str
) -> tuple[str, str]:
    """Walk the browser part: visit the authorize URL, approve as `login`; returns (code, verifier)."""
    state, pkce = generate_state(), generate_pkce()
    async with http.get(
        oauth.authorize_url(redirect_uri=REDIRECT, state=state, code_challenge=pkce.challenge)
    ) as r:
        assert r.status == 200
    redirect = parse_qs(urlsplit(fake.approve(login, state=state)).query)
    assert redirect["state"] == [state]
    return redirect["code"][0], pkce.verifier


def test_rfc_7636_appendix_b_vector() -> None:
    """The S256 challenge of RFC 7636's example verifier is the RFC's value."""
    assert (
        code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_generated_pkce_pair_is_well_formed() -> None:
    """Verifiers are 43-128 unreserved characters, fresh each time, and match their challenge."""
    first, second = generate_pkce(), generate_pkce()
    assert first.verifier != second.verifier
    assert len(first.verifier) == 64
    assert set(first.verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert first.challenge == code_challenge_s256(first.verifier)
    assert first.method == "S256"
    assert first.verifier not in repr(first)


@pytest.mark.parametrize("verifier", ["too-short", "x" * 129, "has spaces" + "x" * 40, "é" * 50])
def test_invalid_verifier_is_refused(verifier: str) -> None:
    """A verifier outside RFC 7636's length or alphabet cannot be used."""
    with pytest.raises(ValueError, match="verifier"):
        code_challenge_s256(verifier)


def test_authorize_url_parameters() -> None:
    """The authorize URL carries client id, redirect URI, state and an S256 challenge, nothing else."""
    url = build_authorize_url(
        "https://github.example/",
        client_id="Iv23li",
        redirect_uri=REDIRECT,
        state="st&te",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "github.example", "/login/oauth/authorize")
    assert parse_qs(parts.query) == {
        "client_id": ["Iv23li"],
        "redirect_uri": [REDIRECT],
        "state": ["st&te"],
        "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
        "code_challenge_method": ["S256"],
    }
    with_login = build_authorize_url(
        "https://github.com",
        client_id="c",
        redirect_uri=REDIRECT,
        state="s",
        code_challenge="x",
        login="octocat",
        allow_signup=False,
    )
    assert parse_qs(urlsplit(with_login).query)["login"] == ["octocat"]
    assert parse_qs(urlsplit(with_login).query)["allow_signup"] == ["false"]


async def test_fake_records_the_authorize_request(
    http: aiohttp.ClientSession, fake_github: FakeGitHub, oauth: GitHubOAuth
) -> None:
    """GitHub's stand-in sees exactly what our authorize URL asked for."""
    pkce = generate_pkce()
    async with http.get(
        oauth.authorize_url(redirect_uri=REDIRECT, state="abc", code_challenge=pkce.challenge)
    ):
        pass
    (request,) = fake_github.authorization_requests
    assert (request.client_id, request.redirect_uri, request.state) == (
        fake_github.client_id,
        REDIRECT,
        "abc",
    )
    assert (request.code_challenge, request.code_challenge_method) == (pkce.challenge, "S256")


async def test_code_exchange_gives_working_tokens(
    http: aiohttp.ClientSession,
    fake_github: FakeGitHub,
    oauth: GitHubOAuth,
    github: GitHubClient,
    clock: FakeClock,
) -> None:
    """The approved code plus verifier yields an access token for the user and a refresh token."""
    fake_github.add_user("octocat")
    code, verifier = await authorize(http, fake_github, oauth, "octocat")
    tokens = await oauth.exchange_code(code, verifier, REDIRECT)
    now = datetime.fromtimestamp(clock(), UTC)
    assert tokens.access_token.startswith("ghu_")
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.startswith("ghr_")
    assert (tokens.expires_in, tokens.token_type) == (28_800, "bearer")
    assert tokens.expires_at == now + timedelta(hours=8)
    assert tokens.refresh_token_expires_at == now + timedelta(seconds=tokens.refresh_token_expires_in or 0)
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)
    assert (await github.get_authenticated_user(tokens.access_token)).login == "octocat"
    (sent,) = fake_github.requests_to("POST", TOKEN_ROUTE)
    assert sent.headers["accept"] == "application/json"
    assert sent.form == {
        "client_id": fake_github.client_id,
        "client_secret": fake_github.client_secret,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
    }


async def test_code_is_single_use(
    http: aiohttp.ClientSession, fake_github: FakeGitHub, oauth: GitHubOAuth
) -> None:
    """Exchanging the same code twice fails the second time with bad_verification_code."""
    code, verifier = await authorize(http, fake_github, oauth, "octocat")
    await oauth.exchange_code(code, verifier, REDIRECT)
    with pytest.raises(OAuthError) as raised:
        await oauth.exchange_code(code, verifier, REDIRECT)
    assert raised.value.error == "bad_verification_code"


async def test_wrong_verifier_is_refused(
    http: aiohttp.ClientSession, fake_github: FakeGitHub, oauth: GitHubOAuth
) -> None:
    """A code presented with another PKCE verifier does not yield tokens."""
    code, _ = await authorize(http, fake_github, oauth, "octocat")
    with pytest.raises(OAuthError) as raised:
        await oauth.exchange_code(code, generate_pkce().verifier, REDIRECT)
    assert raised.value.error == "bad_verification_code"
    assert raised.value.description is not None
    assert "code_verifier" in raised.value.description


async def test_refresh_rotates_both_tokens(
    http: aiohttp.ClientSession, fake_github: FakeGitHub, oauth: GitHubOAuth, github: GitHubClient
) -> None:
    """A refresh gives a new pair; the old refresh token and old access token stop working."""
    code, verifier = await authorize(http, fake_github, oauth, "octocat")
    first = await oauth.exchange_code(code, verifier, REDIRECT)
    assert first.refresh_token is not None
    second = await oauth.refresh(first.refresh_token)
    assert second.refresh_token is not None
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert fake_github.requests_to("POST", TOKEN_ROUTE)[-1].form["grant_type"] == "refresh_token"
    with pytest.raises(OAuthError) as raised:
        await oauth.refresh(first.refresh_token)
    assert raised.value.error == "bad_refresh_token"
    with pytest.raises(GitHubAuthError):
        await github.get_authenticated_user(first.access_token)
    assert (await github.get_authenticated_user(second.access_token)).login == "octocat"
    assert (await oauth.refresh(second.refresh_token)).access_token


async def test_error_in_a_200_answer_is_an_oauth_error(
    http: aiohttp.ClientSession, fake_github: FakeGitHub, clock: FakeClock
) -> None:
    """GitHub's ``{"error": ...}`` with status 200 becomes OAuthError with code, description and URI."""
    wrong_secret = GitHubOAuth(
        http, client_id=fake_github.client_id, client_secret="wrong", web_url=fake_github.url, clock=clock
    )
    with pytest.raises(OAuthError) as raised:
        await wrong_secret.exchange_code("code", generate_pkce().verifier, REDIRECT)
    error = raised.value
    assert (error.error, error.status) == ("incorrect_client_credentials", 200)
    assert error.description == "The client_id and/or client_secret passed are incorrect."
    assert error.uri is not None
    assert error.uri.endswith("#incorrect-client-credentials")


async def test_token_endpoint_outage_is_unavailable(fake_github: FakeGitHub, oauth: GitHubOAuth) -> None:
    """A 5xx from the token endpoint raises GitHubUnavailable, not OAuthError."""
    fake_github.fail_next("POST", TOKEN_ROUTE, 502, body="<html>bad gateway</html>")
    with pytest.raises(GitHubUnavailable):
        await oauth.refresh("ghr_whatever")


def test_form_encoded_answer_is_read_too() -> None:
    """GitHub's default form-encoded answer (when Accept is ignored) parses like the JSON one."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    tokens = _parse_token_answer(200, b"access_token=ghu_abc&expires_in=28800&scope=&token_type=bearer", now)
    assert (tokens.access_token, tokens.expires_at) == ("ghu_abc", now + timedelta(hours=8))
    with pytest.raises(OAuthError, match="bad_verification_code"):
        _parse_token_answer(200, b"error=bad_verification_code&error_description=expired", now)
