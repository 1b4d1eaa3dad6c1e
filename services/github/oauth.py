"""The OAuth web flow for the App's user access tokens, with PKCE (RFC 7636, S256 only).

1. `generate_state()` and `generate_pkce()`; keep both server-side (state is single-use).
2. Send the browser to `GitHubOAuth.authorize_url(...)`.
3. On the callback, check `state`, then `exchange_code(code, verifier, redirect_uri)`.
4. Before the access token expires (8 h), `refresh(refresh_token)`: GitHub rotates both tokens;
   the old refresh token stops working, so store the new pair at once.

GitHub answers token-endpoint failures with HTTP 200 and ``{"error": ..., "error_description":
..., "error_uri": ...}``; those become `OAuthError` with GitHub's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.github.clock import Clock, system_clock, utc_datetime
from services.github.errors import GitHubConfigError, GitHubUnavailable, GitHubUnexpectedResponse, OAuthError

DEFAULT_WEB_URL = "https://github.com"
PKCE_METHOD = "S256"
VERIFIER_MIN_LENGTH = 43
VERIFIER_MAX_LENGTH = 128
_VERIFIER_ALPHABET = string.ascii_letters + string.digits + "-._~"  # RFC 7636 "unreserved"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


@dataclass(frozen=True, slots=True)
class PkcePair:
    """A PKCE code verifier (kept secret until the exchange) and its S256 challenge."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = PKCE_METHOD


def code_challenge_s256(verifier: str) -> str:
    """BASE64URL(SHA-256(ASCII(verifier))) without padding (RFC 7636 section 4.2)."""
    if not _VERIFIER.fullmatch(verifier):
        raise ValueError(
            f"a PKCE code verifier is {VERIFIER_MIN_LENGTH}-{VERIFIER_MAX_LENGTH} characters of "
            "A-Z a-z 0-9 - . _ ~"
        )
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_code_verifier(length: int = 64) -> str:
    """A random code verifier of `length` unreserved characters (about 6 bits of entropy each)."""
    if not VERIFIER_MIN_LENGTH <= length <= VERIFIER_MAX_LENGTH:
        raise ValueError(f"verifier length must be {VERIFIER_MIN_LENGTH}..{VERIFIER_MAX_LENGTH}")
    return "".join(secrets.choice(_VERIFIER_ALPHABET) for _ in range(length))


def generate_pkce(length: int = 64) -> PkcePair:
    """A fresh verifier and its S256 challenge."""
    verifier = generate_code_verifier(length)
    return PkcePair(verifier=verifier, challenge=code_challenge_s256(verifier))


def generate_state() -> str:
    """An unguessable ``state`` value (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def build_authorize_url(
    web_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    login: str | None = None,
    allow_signup: bool | None = None,
    prompt: str | None = None,
) -> str:
    """``{web_url}/login/oauth/authorize?...`` for the web flow, always with an S256 challenge."""
    if not state:
        raise ValueError("the authorize URL needs a state")
    params: dict[str, str] = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": PKCE_METHOD,
    }
    if login is not None:
        params["login"] = login
    if allow_signup is not None:
        params["allow_signup"] = "true" if allow_signup else "false"
    if prompt is not None:
        params["prompt"] = prompt
    return f"{web_url.rstrip('/')}/login/oauth/authorize?{urlencode(params)}"


class OAuthTokens(BaseModel):
    """A user access token and, for expiring tokens, its refresh token; secrets hidden from repr."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: str = Field(repr=False)
    token_type: str = "bearer"
    scope: str = ""
    expires_in: int | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    refresh_token_expires_in: int | None = None
    # Computed on receipt from the `*_in` seconds; None when GitHub sent none (non-expiring).
    expires_at: datetime | None = None
    refresh_token_expires_at: datetime | None = None


class GitHubOAuth:
    """The token endpoint of GitHub's web host, for the App's client id and secret."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: str,
        client_secret: str,
        web_url: str = DEFAULT_WEB_URL,
        user_agent: str = "MachineNativeOps",
        request_timeout: float = 30.0,
        clock: Clock = system_clock,
    ) -> None:
        if not client_id or not client_secret:
            raise GitHubConfigError("the OAuth flow needs the App's client id and client secret")
        self._session = session
        self._client_id = client_id
        self._client_secret = client_secret
        self._web_url = web_url.rstrip("/")
        self._user_agent = user_agent
        self._timeout = request_timeout
        self._clock = clock

    def __repr__(self) -> str:
        return f"GitHubOAuth(client_id={self._client_id!r}, web_url={self._web_url!r})"

    @property
    def token_url(self) -> str:
        return f"{self._web_url}/login/oauth/access_token"

    def authorize_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        code_challenge: str,
        login: str | None = None,
        allow_signup: bool | None = None,
    ) -> str:
        """Where to send the browser to ask the user for authorisation."""
        return build_authorize_url(
            self._web_url,
            client_id=self._client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=code_challenge,
            login=login,
            allow_signup=allow_signup,
        )

    async def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> OAuthTokens:
        """Trade the callback's ``code`` (single-use) and the PKCE verifier for tokens."""
        return await self._token_request(
            {"code": code, "code_verifier": verifier, "redirect_uri": redirect_uri}
        )

    async def refresh(self, refresh_token: str) -> OAuthTokens:
        """Trade a refresh token for a new access token *and* a new refresh token."""
        return await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token_request(self, fields: dict[str, str]) -> OAuthTokens:
        form = {"client_id": self._client_id, "client_secret": self._client_secret, **fields}
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        received_at = utc_datetime(self._clock())
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session.post(self.token_url, data=form, headers=headers) as response:
                    status = response.status
                    body = await response.read()
        except TimeoutError:
            raise GitHubUnavailable(
                f"GitHub's token endpoint did not answer within {self._timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise GitHubUnavailable(f"GitHub's token endpoint could not be reached: {exc}") from exc
        return _parse_token_answer(status, body, received_at)


def _parse_token_answer(status: int, body: bytes, received_at: datetime) -> OAuthTokens:
    data: Any
    try:
        data = json.loads(body)
    except ValueError:
        # Without a JSON-capable Accept, GitHub answers form-encoded; read that the same way.
        form = dict(parse_qsl(body.decode("utf-8", errors="replace")))
        data = form if "access_token" in form or "error" in form else None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        raise OAuthError(
            data["error"],
            data.get("error_description") if isinstance(data.get("error_description"), str) else None,
            uri=data.get("error_uri") if isinstance(data.get("error_uri"), str) else None,
            status=status,
        )
    if status >= 500:
        raise GitHubUnavailable(f"GitHub's token endpoint answered {status}", status=status)
    if status != 200 or not isinstance(data, dict):
        raise GitHubUnexpectedResponse(
            f"GitHub's token endpoint answered {status} without a JSON token or error", status=status
        )
    try:
        tokens = OAuthTokens.model_validate(data)
    except ValidationError as exc:
        raise GitHubUnexpectedResponse(f"GitHub's token answer is not the documented shape: {exc}") from None
    return tokens.model_copy(
        update={
            "expires_at": _after(received_at, tokens.expires_in),
            "refresh_token_expires_at": _after(received_at, tokens.refresh_token_expires_in),
        }
    )


def _after(start: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else start + timedelta(seconds=seconds)
