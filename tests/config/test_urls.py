"""Addresses shown in logs and command output never carry their secret."""

import pytest

from shared.config.urls import redacted_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://mno:s3cret@db:5432/mno", "postgresql://mno:***@db:5432/mno"),
        ("postgresql://mno@db/mno", "postgresql://mno@db/mno"),
        ("nats://t0ken@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
        ("tls://user:pass@nats-a:4222", "tls://user:***@nats-a:4222"),
        ("nats://nats-a:4222", "nats://nats-a:4222"),
    ],
)
def test_redacted_url_hides_passwords_and_nats_tokens_but_keeps_the_address(url: str, shown: str) -> None:
    """A password, or a NATS URL's token (its lone user part), is replaced; users, hosts and ports stay."""
    assert redacted_url(url) == shown


def test_a_server_that_does_not_answer_is_named_without_its_secret() -> None:
    """`mno` commands' ServerUnavailable redacts every address it is given, a list of NATS servers too."""
    from mno.reach import ServerUnavailable

    nats = ServerUnavailable("NATS", ["nats://t0ken@a:4222", "nats://b:4222"], None)
    postgres = ServerUnavailable("PostgreSQL", "postgresql://mno:s3cret@db/mno", None)
    assert str(nats) == "cannot reach NATS at nats://***@a:4222, nats://b:4222: no answer"
    assert str(postgres) == "cannot reach PostgreSQL at postgresql://mno:***@db/mno: no answer"
