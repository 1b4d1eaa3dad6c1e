"""The App's credentials from the `github` section of the configuration file."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.github.app_jwt import AppJWTSigner
from services.github.clock import Clock, system_clock
from services.github.errors import GitHubConfigError
from shared.config import GitHubSettings


@dataclass(frozen=True, slots=True)
class GitHubAppCredentials:
    """What the client and the OAuth helpers need to act as the App; secrets stay out of repr.

    `private_keys` are PEM texts, newest first: the configured ``private_keys`` entries, then the
    contents of ``private_key_files``, in the order given.
    """

    client_id: str | None
    app_id: int | None
    client_secret: str | None = field(repr=False)
    private_keys: tuple[str, ...] = field(repr=False)
    api_url: str = "https://api.github.com"
    web_url: str = "https://github.com"

    @classmethod
    def from_settings(cls, settings: GitHubSettings) -> GitHubAppCredentials:
        pems = [secret.get_secret_value() for secret in settings.private_keys]
        for path in settings.private_key_files:
            try:
                pems.append(path.read_text())
            except OSError as exc:
                raise GitHubConfigError(
                    f"github.private_key_files: cannot read {path}: {exc.strerror}"
                ) from exc
        return cls(
            client_id=settings.client_id,
            app_id=settings.app_id,
            client_secret=settings.client_secret.get_secret_value() if settings.client_secret else None,
            private_keys=tuple(pems),
            api_url=str(settings.api_url).rstrip("/"),
            web_url=str(settings.web_url).rstrip("/"),
        )

    @property
    def jwt_issuer(self) -> str:
        """The client id (GitHub's recommendation), else the numeric App id."""
        if self.client_id:
            return self.client_id
        if self.app_id is not None:
            return str(self.app_id)
        raise GitHubConfigError("github.client_id (or github.app_id) is needed to sign App JWTs")

    def signer(self, *, clock: Clock = system_clock) -> AppJWTSigner:
        """An `AppJWTSigner` over the configured keys."""
        return AppJWTSigner.from_pem(self.jwt_issuer, self.private_keys, clock=clock)
