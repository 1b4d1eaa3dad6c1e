"""Which HTTP Basic credentials carry a team API key under /registry/ (pip, twine and uv's forms)."""

from __future__ import annotations

import base64

import pytest
from aiohttp.test_utils import make_mocked_request

from services.gateway.auth import basic_api_key

KEY = "mno_abc_secret"


def _basic(credentials: str, path: str = "/registry/t/pypi/simple/") -> str | None:
    encoded = base64.b64encode(credentials.encode()).decode()
    return basic_api_key(make_mocked_request("GET", path, headers={"Authorization": f"Basic {encoded}"}))


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        (f"__token__:{KEY}", KEY),  # twine's and pip's usual form
        (f"anyone:{KEY}", KEY),  # any user name with the key as the password
        (f"{KEY}:", KEY),  # the key as the user name, no password (https://<key>@host/)
        (f"{KEY}:not-a-key", None),  # a password is given and is no key
        ("__token__:", None),
        (KEY, None),  # no colon: not Basic credentials
        ("user:password", None),
    ],
)
def test_the_key_is_the_password_or_a_user_name_without_one(credentials: str, expected: str | None) -> None:
    """The key is read from the password, or from the user name when the password is empty."""
    assert _basic(credentials) == expected


def test_basic_credentials_count_only_under_the_registry() -> None:
    """Elsewhere the API takes keys as Bearer tokens only."""
    assert _basic(f"__token__:{KEY}", path="/api/v1/teams") is None
