"""Server addresses as they may be shown: in logs, errors and command output."""

from urllib.parse import urlsplit, urlunsplit

_NATS_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})


def redacted_url(url: str) -> str:
    """The URL without its secret: a password, or a NATS URL's token. Addresses are shown, secrets never."""
    parts = urlsplit(url)
    if parts.password is not None:
        credentials = f"{parts.username or ''}:***"
    elif parts.username is not None and parts.scheme in _NATS_SCHEMES:
        # A NATS URL carries a token as a user part without a password (nats-py sends it as auth_token).
        credentials = "***"
    else:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{credentials}@{host}{port}", parts.path, parts.query, parts.fragment))
