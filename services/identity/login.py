"""Sign-in with GitHub (the App's OAuth web flow with PKCE) and the App's setup URL.

begin   → a single-use state (stored hashed, with the PKCE verifier encrypted) and a browser
          binding cookie, so a sign-in started in another browser (login CSRF) is refused
complete→ the state is consumed atomically, the code exchanged with the verifier, the user
          recorded, their tokens stored encrypted, and a new session issued (the old one, if
          any, revoked: the session id changes at login)
setup   → the installation id in the setup URL is anyone's to forge, so it counts only if the
          signed-in user's own installations (GET /user/installations) include it
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from services.github.client import GitHubClient
from services.github.errors import GitHubError
from services.github.oauth import GitHubOAuth, generate_pkce
from services.identity import sessions, users
from services.identity.installations import (
    GitHubAccountRef,
    InstallationRef,
    ensure_account,
    upsert_installation,
)
from services.identity.plans import PlanBook
from shared.bus.errors import AgentError
from shared.crypto import SecretBox
from shared.messages.envelope import ErrorCode


def safe_return_path(value: str | None) -> str:
    """Only a path on this site: never a scheme, host or `//host` (no open redirects)."""
    if not value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class Started:
    authorize_url: str
    browser_binding: str


@dataclass(frozen=True)
class SignedIn:
    session_token: str
    user_id: str
    return_to: str


@dataclass(frozen=True)
class LoginFlow:
    pool: Any
    box: SecretBox
    oauth: GitHubOAuth
    github: GitHubClient
    redirect_uri: str
    state_ttl: timedelta
    session_ttl: timedelta
    plans: PlanBook

    async def begin(self, return_to: str | None) -> Started:
        state = secrets.token_urlsafe(32)
        binding = secrets.token_urlsafe(32)
        pkce = generate_pkce()
        await self.pool.execute(
            "INSERT INTO super_agent.oauth_states "
            "(state_hash, verifier_ciphertext, browser_binding, return_to, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            _hash(state),
            self.box.encrypt(pkce.verifier.encode(), _hash(state)),
            _hash(binding),
            safe_return_path(return_to),
            datetime.now(UTC) + self.state_ttl,
        )
        url = self.oauth.authorize_url(
            redirect_uri=self.redirect_uri, state=state, code_challenge=pkce.challenge
        )
        return Started(url, binding)

    async def complete(
        self,
        *,
        code: str,
        state: str,
        browser_binding: str | None,
        previous_session: str | None,
        ip: str | None,
        user_agent: str | None,
    ) -> SignedIn:
        row = await self.pool.fetchrow(
            "DELETE FROM super_agent.oauth_states WHERE state_hash = $1 RETURNING verifier_ciphertext, "
            "browser_binding, return_to, expires_at",
            _hash(state),
        )
        if row is None:
            raise AgentError(ErrorCode.BAD_REQUEST, "unknown or already used sign-in state; start again")
        if row["expires_at"] <= datetime.now(UTC):
            raise AgentError(ErrorCode.BAD_REQUEST, "the sign-in took too long; start again")
        if browser_binding is None or not secrets.compare_digest(
            _hash(browser_binding), bytes(row["browser_binding"])
        ):
            raise AgentError(ErrorCode.FORBIDDEN, "this sign-in was started in another browser")
        verifier = self.box.decrypt(bytes(row["verifier_ciphertext"]), _hash(state)).decode()
        try:
            tokens = await self.oauth.exchange_code(code, verifier, self.redirect_uri)
            profile = await self.github.get_authenticated_user(tokens.access_token)
        except GitHubError as error:
            raise AgentError(ErrorCode.UNAUTHENTICATED, f"GitHub refused the sign-in: {error}") from error
        async with self.pool.acquire() as conn, conn.transaction():
            user_id = await users.upsert_github_user(conn, profile)
            await users.store_tokens(conn, self.box, user_id, tokens)
            if previous_session:
                await sessions.revoke(conn, previous_session)
            token = await sessions.create(conn, user_id, ttl=self.session_ttl, ip=ip, user_agent=user_agent)
        return SignedIn(token, user_id, row["return_to"])

    async def confirm_installation(self, user_id: str, installation_id: int) -> str:
        """Link a just-installed installation to the user, once GitHub confirms the user can see it;
        returns the account's login. The user becomes owner of the account's default team when the
        account is their own or they installed the App (per installation.created); otherwise a
        member, whom an owner can promote."""
        try:
            token = await users.access_token(self.pool, self.box, self.oauth, user_id)
            visible = await self.github.list_user_installations(token)
        except users.ReauthorizationNeeded as error:
            raise AgentError(ErrorCode.UNAUTHENTICATED, f"sign in with GitHub again: {error}") from error
        except GitHubError as error:
            raise AgentError(
                ErrorCode.UNAVAILABLE, f"GitHub could not confirm the installation: {error}"
            ) from error
        installation = next((i for i in visible if i.id == installation_id), None)
        if installation is None:
            raise AgentError(
                ErrorCode.NOT_FOUND, f"installation {installation_id} is not one of yours on GitHub"
            )
        async with self.pool.acquire() as conn, conn.transaction():
            account = GitHubAccountRef(
                id=installation.account.id, login=installation.account.login, type=installation.account.type
            )
            account_id = await ensure_account(conn, account)
            await upsert_installation(
                conn,
                InstallationRef(
                    id=installation.id,
                    account=account,
                    target_type=installation.target_type or account.type,
                    repository_selection=installation.repository_selection,
                    permissions=dict(installation.permissions),
                    events=list(installation.events),
                ),
                account_id,
            )
            team_id = await conn.fetchval(
                "SELECT id FROM super_agent.teams WHERE account_id = $1 AND is_default", account_id
            )
            entitled = await conn.fetchval(
                """
                SELECT u.github_id = $3 OR u.github_id = i.installed_by_github_id
                FROM super_agent.users u, super_agent.installations i
                WHERE u.id = $1::uuid AND i.github_id = $2
                """,
                user_id,
                installation_id,
                installation.account.id,
            )
            await self.plans.require_seat(conn, account_id, user_id)
            await conn.execute(
                "INSERT INTO super_agent.team_members (team_id, user_id, role) VALUES ($1, $2::uuid, $3) "
                "ON CONFLICT (team_id, user_id) DO UPDATE SET role = CASE WHEN EXCLUDED.role = 'owner' "
                "THEN 'owner' ELSE super_agent.team_members.role END",
                team_id,
                user_id,
                "owner" if entitled else "member",
            )
        return installation.account.login
