"""GitHub App integration: App JWTs, cached installation tokens, the REST client, OAuth user tokens.

Owned by the SuperAgent.
"""

from services.github.app_jwt import AppJWTSigner, call_with_app_jwt, load_private_key
from services.github.client import AuthenticatedGitHub, GitHubClient
from services.github.config import GitHubAppCredentials
from services.github.errors import (
    GitHubAuthError,
    GitHubConfigError,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
    GitHubUnexpectedResponse,
    OAuthError,
)
from services.github.models import (
    Account,
    GitHubUser,
    Installation,
    MarketplaceAccount,
    MarketplacePendingChange,
    MarketplacePlan,
    MarketplacePurchase,
    Repository,
)
from services.github.oauth import (
    GitHubOAuth,
    OAuthTokens,
    PkcePair,
    build_authorize_url,
    code_challenge_s256,
    generate_pkce,
    generate_state,
)
from services.github.token_cache import (
    WHOLE_INSTALLATION,
    InMemoryTokenStore,
    InstallationToken,
    InstallationTokenCache,
    StoredToken,
    TokenScope,
    TokenStore,
)
from shared.crypto import (
    DecryptionFailed,
    InvalidKey,
    MalformedCiphertext,
    SecretBox,
    SecretBoxError,
    UnknownKeyId,
    generate_key,
)

__all__ = [
    "WHOLE_INSTALLATION",
    "Account",
    "AppJWTSigner",
    "AuthenticatedGitHub",
    "DecryptionFailed",
    "GitHubAppCredentials",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubConfigError",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "GitHubOAuth",
    "GitHubRateLimited",
    "GitHubUnavailable",
    "GitHubUnexpectedResponse",
    "GitHubUser",
    "InMemoryTokenStore",
    "Installation",
    "InstallationToken",
    "InstallationTokenCache",
    "InvalidKey",
    "MalformedCiphertext",
    "MarketplaceAccount",
    "MarketplacePendingChange",
    "MarketplacePlan",
    "MarketplacePurchase",
    "OAuthError",
    "OAuthTokens",
    "PkcePair",
    "Repository",
    "SecretBox",
    "SecretBoxError",
    "StoredToken",
    "TokenScope",
    "TokenStore",
    "UnknownKeyId",
    "build_authorize_url",
    "call_with_app_jwt",
    "code_challenge_s256",
    "generate_key",
    "generate_pkce",
    "generate_state",
    "load_private_key",
]
