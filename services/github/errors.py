"""Errors of the GitHub layer: every failure the package raises is a `GitHubError`.

Callers catch one base class per layer (`GitHubError` here, `SecretBoxError` for the encryption
underneath) and never see gidgethub's, aiohttp's or pydantic's own exceptions: the client maps
them at the boundary, keeping the HTTP status and GitHub's message for logs.
"""

from __future__ import annotations

from datetime import datetime


class GitHubError(Exception):
    """Base class for every error of the GitHub client, OAuth helpers and App authentication."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GitHubConfigError(GitHubError, ValueError):
    """The App is configured wrongly: an unreadable private key, a missing client id."""


class GitHubAuthError(GitHubError):
    """GitHub answered 401: the JWT, installation token or user token was not accepted."""


class GitHubForbidden(GitHubError):
    """GitHub answered 403 for a reason other than a rate limit (missing permission, suspended)."""


class GitHubNotFound(GitHubError):
    """GitHub answered 404 (also what it answers for a resource the credentials cannot see)."""


class GitHubRateLimited(GitHubError):
    """A primary or secondary rate limit: nothing more should be sent before `reset_at` (UTC)."""

    def __init__(self, message: str, *, status: int, reset_at: datetime) -> None:
        super().__init__(message, status=status)
        self.reset_at = reset_at


class GitHubUnavailable(GitHubError):
    """GitHub could not be reached, timed out, or answered 5xx: worth retrying later."""


class GitHubUnexpectedResponse(GitHubError):
    """GitHub answered successfully with a body that is not the documented shape."""


class OAuthError(GitHubError):
    """The OAuth token endpoint refused the request (GitHub reports these in a 200 body).

    `error` is GitHub's machine-readable code, e.g. ``bad_verification_code``,
    ``bad_refresh_token``, ``incorrect_client_credentials``, ``redirect_uri_mismatch``.
    """

    def __init__(
        self,
        error: str,
        description: str | None = None,
        *,
        uri: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}" if description else error, status=status)
        self.error = error
        self.description = description
        self.uri = uri
