"""`GitHubClient`: GitHub's REST API as the App, as an installation, or as a user.

A thin layer over gidgethub's aiohttp `GitHubAPI`: it picks the credential for each request,
retries once when a credential is refused and another is worth trying (the second App key
during a key rotation; a freshly minted installation token when a cached one was revoked),
maps every failure to `services.github.errors`, and parses answers into frozen models.

The API base URL comes from configuration, so GitHub Enterprise Server
(``https://HOST/api/v3``) and the tests' stand-in GitHub work unchanged.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import binascii
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import aiohttp
import gidgethub
import gidgethub.aiohttp
from pydantic import BaseModel, ValidationError

from services.github.app_jwt import AppJWTSigner, fallback_key_index
from services.github.clock import Clock, system_clock, utc_datetime
from services.github.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUnexpectedResponse,
)
from services.github.models import (
    FileCommit,
    GitBlob,
    GitHubModel,
    GitHubUser,
    GitRef,
    GitTree,
    Installation,
    MarketplaceAccount,
    MarketplacePlan,
    PullRequest,
    Repository,
)
from services.github.token_cache import (
    DEFAULT_REFRESH_MARGIN,
    WHOLE_INSTALLATION,
    InstallationToken,
    InstallationTokenCache,
    TokenScope,
    TokenStore,
)
from shared.crypto import SecretBox

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_USER_AGENT = "MachineNativeOps"
API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
MAX_PER_PAGE = 100
# GitHub's advice when a 429/403 rate-limit answer names no time: wait at least a minute.
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=1)

ModelT = TypeVar("ModelT", bound=BaseModel)


# --- errors ------------------------------------------------------------------------------------


def map_http_error(exc: gidgethub.HTTPException, *, now: datetime) -> GitHubError:
    """Our error for one of gidgethub's HTTP exceptions (status and headers kept)."""
    status = int(exc.status_code)
    message = str(exc) or exc.status_code.phrase
    headers = exc.headers
    if status == 401:
        return GitHubAuthError(message, status=status)
    if status in (403, 429):
        reset_at = _rate_limit_reset(headers, message, now=now, status=status)
        if reset_at is not None:
            return GitHubRateLimited(message, status=status, reset_at=reset_at)
        return GitHubForbidden(message, status=status)
    if status == 404:
        return GitHubNotFound(message, status=status)
    if status >= 500:
        return GitHubUnavailable(message, status=status)
    return GitHubError(message, status=status)


def _rate_limit_reset(
    headers: Mapping[str, str], message: str, *, now: datetime, status: int
) -> datetime | None:
    retry_after = _header(headers, "retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return now + timedelta(seconds=int(retry_after))
    remaining = _header(headers, "x-ratelimit-remaining")
    reset = _header(headers, "x-ratelimit-reset")
    if remaining is not None and remaining.strip() == "0" and reset is not None:
        try:
            return utc_datetime(float(reset))
        except ValueError:
            return now + DEFAULT_RATE_LIMIT_WAIT
    if status == 429 or "rate limit" in message.lower():
        return now + DEFAULT_RATE_LIMIT_WAIT
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict with other capitalisation
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def parse_model(model: type[ModelT], data: Any, *, what: str) -> ModelT:
    """Validate GitHub's JSON into `model`, or raise `GitHubUnexpectedResponse`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise GitHubUnexpectedResponse(f"GitHub's {what} is not the documented shape: {exc}") from None


# --- transport ---------------------------------------------------------------------------------


class _GidgetHubAPI(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp binding with a per-request timeout and transport errors mapped."""

    def __init__(self, session: aiohttp.ClientSession, requester: str, *, base_url: str, timeout: float):
        super().__init__(session, requester, base_url=base_url)
        self._timeout = timeout

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            async with asyncio.timeout(self._timeout):
                return await super()._request(method, url, headers, body)
        except TimeoutError:
            raise GitHubUnavailable(
                f"GitHub did not answer {method} {url} within {self._timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise GitHubUnavailable(f"GitHub could not be reached for {method} {url}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Credential:
    kind: Literal["jwt", "token"]
    value: str = field(repr=False)
    key_index: int = 0
    installation_token: InstallationToken | None = None
    attempt: int = 0

    def kwargs(self) -> dict[str, str]:
        return {"jwt": self.value} if self.kind == "jwt" else {"oauth_token": self.value}


class _Auth(abc.ABC):
    """Which credential to send, and which to try next when GitHub answers 401."""

    @abc.abstractmethod
    async def first(self) -> _Credential: ...

    @abc.abstractmethod
    async def after_refusal(self, refused: _Credential) -> _Credential | None: ...


class _AppAuth(_Auth):
    def __init__(self, signer: AppJWTSigner) -> None:
        self._signer = signer

    async def first(self) -> _Credential:
        return _Credential("jwt", self._signer.sign(0), key_index=0)

    async def after_refusal(self, refused: _Credential) -> _Credential | None:
        index = fallback_key_index(self._signer, refused.key_index)
        return None if index is None else _Credential("jwt", self._signer.sign(index), key_index=index)


class _InstallationAuth(_Auth):
    def __init__(self, tokens: InstallationTokenCache, installation_id: int, scope: TokenScope) -> None:
        self._tokens = tokens
        self._installation_id = installation_id
        self._scope = scope

    async def first(self) -> _Credential:
        token = await self._tokens.get(self._installation_id, self._scope)
        return _Credential("token", token.token, installation_token=token)

    async def after_refusal(self, refused: _Credential) -> _Credential | None:
        # A cached token can be revoked before it expires (uninstalled and reinstalled, or
        # DELETE /installation/token); one fresh token is worth a try, a second refusal is final.
        if refused.attempt > 0 or refused.installation_token is None:
            return None
        await self._tokens.discard(refused.installation_token)
        token = await self._tokens.get(self._installation_id, self._scope)
        return _Credential("token", token.token, installation_token=token, attempt=1)


class _UserAuth(_Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    async def first(self) -> _Credential:
        return _Credential("token", self._token)

    async def after_refusal(self, refused: _Credential) -> _Credential | None:
        return None


class AuthenticatedGitHub:
    """GitHub's REST API under one identity (App, installation or user); JSON in, JSON out."""

    def __init__(self, api: _GidgetHubAPI, auth: _Auth, clock: Clock) -> None:
        self._api = api
        self._auth = auth
        self._clock = clock

    async def getitem(self, url: str, url_vars: Mapping[str, Any] | None = None) -> Any:
        """``GET`` one resource."""
        return await self._send(
            lambda credential: self._api.getitem(
                url, url_vars or {}, accept=ACCEPT, extra_headers=_headers(), **credential.kwargs()
            )
        )

    async def post(self, url: str, url_vars: Mapping[str, Any] | None = None, *, data: Any) -> Any:
        """``POST`` a JSON body."""
        return await self._send(
            lambda credential: self._api.post(
                url, url_vars or {}, data=data, accept=ACCEPT, extra_headers=_headers(), **credential.kwargs()
            )
        )

    async def put(self, url: str, url_vars: Mapping[str, Any] | None = None, *, data: Any) -> Any:
        """``PUT`` a JSON body."""
        return await self._send(
            lambda credential: self._api.put(
                url, url_vars or {}, data=data, accept=ACCEPT, extra_headers=_headers(), **credential.kwargs()
            )
        )

    async def delete(self, url: str, url_vars: Mapping[str, Any] | None = None) -> Any:
        """``DELETE`` a resource."""
        return await self._send(
            lambda credential: self._api.delete(
                url, url_vars or {}, accept=ACCEPT, extra_headers=_headers(), **credential.kwargs()
            )
        )

    async def getiter(
        self, url: str, url_vars: Mapping[str, Any] | None = None, *, iterable_key: str | None = None
    ) -> AsyncIterator[Any]:
        """Every item of a paginated list, following ``Link: rel="next"`` page after page.

        `iterable_key` names the list inside an object answer (``"repositories"`` for
        ``{"total_count": 2, "repositories": [...]}``); None for an array answer. A refused
        credential is retried only before the first item was yielded.
        """
        credential = await self._auth.first()
        yielded = False
        while True:
            try:
                pages = self._api.getiter(
                    url,
                    url_vars or {},
                    accept=ACCEPT,
                    extra_headers=_headers(),
                    iterable_key=iterable_key,
                    **credential.kwargs(),
                )
                async with contextlib.aclosing(pages):
                    try:
                        async for item in pages:
                            yielded = True
                            yield item
                    except gidgethub.HTTPException as exc:
                        raise map_http_error(exc, now=utc_datetime(self._clock())) from exc
                    except gidgethub.GitHubException as exc:
                        raise GitHubUnexpectedResponse(f"GitHub's answer could not be read: {exc}") from exc
                return
            except GitHubAuthError:
                retry = None if yielded else await self._auth.after_refusal(credential)
                if retry is None:
                    raise
                credential = retry

    async def _send(self, request: Callable[[_Credential], Awaitable[Any]]) -> Any:
        credential = await self._auth.first()
        while True:
            try:
                return await request(credential)
            except gidgethub.HTTPException as exc:
                error = map_http_error(exc, now=utc_datetime(self._clock()))
                if not isinstance(error, GitHubAuthError):
                    raise error from exc
                retry = await self._auth.after_refusal(credential)
                if retry is None:
                    raise error from exc
                credential = retry
            except gidgethub.GitHubException as exc:
                raise GitHubUnexpectedResponse(f"GitHub's answer could not be read: {exc}") from exc


def _headers() -> dict[str, str]:
    return {"x-github-api-version": API_VERSION}


# --- the client --------------------------------------------------------------------------------


class _AccessTokenResponse(GitHubModel):
    token: str
    expires_at: datetime


class GitHubClient:
    """GitHub's REST API for our App: typed helpers plus `as_app`/`as_installation`/`as_user`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        signer: AppJWTSigner,
        *,
        secret_box: SecretBox,
        token_store: TokenStore | None = None,
        api_url: str = DEFAULT_API_URL,
        user_agent: str = DEFAULT_USER_AGENT,
        marketplace_stubbed: bool = False,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        token_refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Clock = system_clock,
    ) -> None:
        self._api = _GidgetHubAPI(session, user_agent, base_url=api_url.rstrip("/"), timeout=request_timeout)
        self._signer = signer
        self._clock = clock
        self._marketplace_stubbed = marketplace_stubbed
        self._tokens = InstallationTokenCache(
            self.create_installation_token,
            secret_box=secret_box,
            store=token_store,
            refresh_margin=token_refresh_margin,
            clock=clock,
        )

    @property
    def api_url(self) -> str:
        return self._api.base_url

    @property
    def tokens(self) -> InstallationTokenCache:
        """The installation token cache (to invalidate an uninstalled installation's tokens)."""
        return self._tokens

    # identities

    def as_app(self) -> AuthenticatedGitHub:
        """Requests signed with an App JWT (second key tried once if the first is refused)."""
        return AuthenticatedGitHub(self._api, _AppAuth(self._signer), self._clock)

    def as_installation(self, installation_id: int, scope: TokenScope | None = None) -> AuthenticatedGitHub:
        """Requests with an installation token from the cache (minted when missing or expiring)."""
        scope = scope if scope is not None else WHOLE_INSTALLATION
        return AuthenticatedGitHub(
            self._api, _InstallationAuth(self._tokens, installation_id, scope), self._clock
        )

    def as_user(self, token: str) -> AuthenticatedGitHub:
        """Requests with a user access token (from the OAuth web flow)."""
        return AuthenticatedGitHub(self._api, _UserAuth(token), self._clock)

    async def revoke_installation_token(self, token: str) -> None:
        """``DELETE /installation/token``: GitHub revokes the installation token used to call it."""
        await self.as_user(token).delete("/installation/token")

    # installation tokens

    async def create_installation_token(
        self, installation_id: int, scope: TokenScope | None = None
    ) -> InstallationToken:
        """Mint a new token (``POST /app/installations/{id}/access_tokens``), bypassing the cache."""
        scope = scope if scope is not None else WHOLE_INSTALLATION
        data = await self.as_app().post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": installation_id},
            data=scope.request_body(),
        )
        answer = parse_model(_AccessTokenResponse, data, what="installation access token")
        expires_at = answer.expires_at
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return InstallationToken(installation_id, scope.key, answer.token, expires_at)

    async def installation_token(
        self, installation_id: int, scope: TokenScope | None = None
    ) -> InstallationToken:
        """A cached installation token valid for at least the refresh margin."""
        return await self._tokens.get(installation_id, scope)

    # typed helpers

    async def get_installation(self, installation_id: int) -> Installation:
        """``GET /app/installations/{installation_id}`` (as the App)."""
        data = await self.as_app().getitem(
            "/app/installations/{installation_id}", {"installation_id": installation_id}
        )
        return parse_model(Installation, data, what="installation")

    async def list_app_installations(self, *, per_page: int = MAX_PER_PAGE) -> list[Installation]:
        """``GET /app/installations``, every page (as the App)."""
        items = self.as_app().getiter("/app/installations{?per_page}", {"per_page": _per_page(per_page)})
        return await _collect(items, Installation, "installation")

    async def list_user_installations(
        self, user_token: str, *, per_page: int = MAX_PER_PAGE
    ) -> list[Installation]:
        """``GET /user/installations``: our App's installations the user can access, every page.

        This is how a setup URL's forgeable ``installation_id`` is confirmed.
        """
        items = self.as_user(user_token).getiter(
            "/user/installations{?per_page}", {"per_page": _per_page(per_page)}, iterable_key="installations"
        )
        return await _collect(items, Installation, "installation")

    async def list_installation_repositories(
        self, installation_id: int, *, scope: TokenScope | None = None, per_page: int = MAX_PER_PAGE
    ) -> list[Repository]:
        """``GET /installation/repositories`` with the installation's token, every page."""
        items = self.as_installation(installation_id, scope).getiter(
            "/installation/repositories{?per_page}",
            {"per_page": _per_page(per_page)},
            iterable_key="repositories",
        )
        return await _collect(items, Repository, "repository")

    async def get_tree(
        self,
        installation_id: int,
        repository: str,
        sha: str,
        *,
        recursive: bool,
        scope: TokenScope | None = None,
    ) -> GitTree:
        """``GET /repos/{owner}/{repo}/git/trees/{sha}[?recursive=1]`` with the installation's token
        (`repository` is ``owner/name``; `sha` a tree, commit or ref name)."""
        owner, name = repository.split("/", 1)
        data = await self.as_installation(installation_id, scope).getitem(
            "/repos/{owner}/{repo}/git/trees/{sha}{?recursive}",
            {"owner": owner, "repo": name, "sha": sha, "recursive": "1" if recursive else None},
        )
        return parse_model(GitTree, data, what="git tree")

    async def get_blob(
        self, installation_id: int, repository: str, sha: str, *, scope: TokenScope | None = None
    ) -> bytes:
        """``GET /repos/{owner}/{repo}/git/blobs/{sha}`` with the installation's token: the bytes."""
        owner, name = repository.split("/", 1)
        data = await self.as_installation(installation_id, scope).getitem(
            "/repos/{owner}/{repo}/git/blobs/{sha}", {"owner": owner, "repo": name, "sha": sha}
        )
        blob = parse_model(GitBlob, data, what="git blob")
        if blob.encoding == "utf-8":
            return blob.content.encode()
        try:
            return base64.b64decode(blob.content, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise GitHubUnexpectedResponse(f"git blob {sha}: its base64 content does not decode") from exc

    async def get_branch_head(
        self, installation_id: int, repository: str, branch: str, *, scope: TokenScope | None = None
    ) -> str:
        """``GET /repos/{owner}/{repo}/git/ref/heads/{branch}``: the commit the branch points at."""
        owner, name = repository.split("/", 1)
        data = await self.as_installation(installation_id, scope).getitem(
            "/repos/{owner}/{repo}/git/ref/heads/{+branch}", {"owner": owner, "repo": name, "branch": branch}
        )
        return parse_model(GitRef, data, what="git ref").object.sha

    async def create_branch(
        self, installation_id: int, repository: str, branch: str, sha: str, *, scope: TokenScope | None = None
    ) -> None:
        """``POST /repos/{owner}/{repo}/git/refs``: a new branch at `sha`."""
        owner, name = repository.split("/", 1)
        await self.as_installation(installation_id, scope).post(
            "/repos/{owner}/{repo}/git/refs",
            {"owner": owner, "repo": name},
            data={"ref": f"refs/heads/{branch}", "sha": sha},
        )

    async def put_file(
        self,
        installation_id: int,
        repository: str,
        path: str,
        content: bytes,
        *,
        message: str,
        branch: str,
        replaces: str | None,
        scope: TokenScope | None = None,
    ) -> str:
        """``PUT /repos/{owner}/{repo}/contents/{path}``: create the file on `branch`, or replace the
        blob `replaces`; the new commit's sha."""
        owner, name = repository.split("/", 1)
        body: dict[str, Any] = {
            "message": message,
            "content": base64.b64encode(content).decode("ascii"),
            "branch": branch,
        }
        if replaces is not None:
            body["sha"] = replaces
        data = await self.as_installation(installation_id, scope).put(
            "/repos/{owner}/{repo}/contents/{+path}", {"owner": owner, "repo": name, "path": path}, data=body
        )
        return parse_model(FileCommit, data, what="file commit").commit.sha

    async def create_pull_request(
        self,
        installation_id: int,
        repository: str,
        *,
        title: str,
        head: str,
        base: str,
        body: str,
        scope: TokenScope | None = None,
    ) -> PullRequest:
        """``POST /repos/{owner}/{repo}/pulls``: a pull request of `head` into `base`."""
        owner, name = repository.split("/", 1)
        data = await self.as_installation(installation_id, scope).post(
            "/repos/{owner}/{repo}/pulls",
            {"owner": owner, "repo": name},
            data={"title": title, "head": head, "base": base, "body": body},
        )
        return parse_model(PullRequest, data, what="pull request")

    async def get_authenticated_user(self, user_token: str) -> GitHubUser:
        """``GET /user``: who a user access token belongs to."""
        return parse_model(GitHubUser, await self.as_user(user_token).getitem("/user"), what="user")

    async def list_marketplace_plans(
        self, *, stubbed: bool | None = None, per_page: int = MAX_PER_PAGE
    ) -> list[MarketplacePlan]:
        """``GET /marketplace_listing[/stubbed]/plans``, every page (as the App)."""
        items = self.as_app().getiter(
            self._marketplace("/plans{?per_page}", stubbed),
            {"per_page": _per_page(per_page)},
            iterable_key=None,
        )
        return await _collect(items, MarketplacePlan, "Marketplace plan")

    async def list_marketplace_accounts_for_plan(
        self, plan_id: int, *, stubbed: bool | None = None, per_page: int = MAX_PER_PAGE
    ) -> list[MarketplaceAccount]:
        """``GET /marketplace_listing[/stubbed]/plans/{plan_id}/accounts``, every page (as the App)."""
        items = self.as_app().getiter(
            self._marketplace("/plans/{plan_id}/accounts{?per_page}", stubbed),
            {"plan_id": plan_id, "per_page": _per_page(per_page)},
            iterable_key=None,
        )
        return await _collect(items, MarketplaceAccount, "Marketplace account")

    async def get_marketplace_account(
        self, account_id: int, *, stubbed: bool | None = None
    ) -> MarketplaceAccount:
        """``GET /marketplace_listing[/stubbed]/accounts/{account_id}``; `GitHubNotFound` if no purchase."""
        data = await self.as_app().getitem(
            self._marketplace("/accounts/{account_id}", stubbed), {"account_id": account_id}
        )
        return parse_model(MarketplaceAccount, data, what="Marketplace account")

    def _marketplace(self, path: str, stubbed: bool | None) -> str:
        use_stub = self._marketplace_stubbed if stubbed is None else stubbed
        return ("/marketplace_listing/stubbed" if use_stub else "/marketplace_listing") + path


def _per_page(per_page: int) -> int:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be 1..{MAX_PER_PAGE}, got {per_page}")
    return per_page


async def _collect(items: AsyncIterator[Any], model: type[ModelT], what: str) -> list[ModelT]:
    return [parse_model(model, item, what=what) async for item in items]
