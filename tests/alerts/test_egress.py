"""The egress guard: refused destinations, and connections pinned to the vetted addresses."""

from __future__ import annotations

import aiohttp
import pytest

from services.alerts.egress import EgressRefused, PinnedResolver, VettedTarget, vet_url
from services.alerts.http import HttpPoster
from tests.alerts.receiver import Receiver

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 wrapping 127.0.0.1
    "http://localhost/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_destinations_are_refused(url: str) -> None:
    """Loopback, private, link-local (metadata), CGNAT, multicast, unspecified, mapped addresses: refused."""
    with pytest.raises(EgressRefused, match="not allowed as an alert target"):
        await vet_url(url, allow_private=False)


async def test_a_hostname_is_judged_by_what_it_resolves_to() -> None:
    """`localhost` is refused because it resolves to loopback, and the message says so."""
    with pytest.raises(EgressRefused, match=r"localhost resolves to .*loopback"):
        await vet_url("http://localhost:8080/hook", allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/hook", "http://[::1]/x", "http://localhost/x", "http://10.0.0.1/"]
)
async def test_private_destinations_are_allowed_when_the_operator_says_so(url: str) -> None:
    """With alerts.allow_private_targets the same destinations pass the guard."""
    target = await vet_url(url, allow_private=True)
    assert target.addresses


async def test_public_addresses_pass() -> None:
    """A global address passes and is what the target will connect to."""
    target = await vet_url("https://93.184.216.34/hook", allow_private=False)
    assert (target.host, target.port, target.addresses) == ("93.184.216.34", 443, ("93.184.216.34",))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "only http"),
        ("file:///etc/passwd", "only http"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http"),
        ("http://user:pw@example.com/x", "user name or password"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
async def test_other_schemes_and_odd_urls_are_refused(url: str, reason: str) -> None:
    """Only http(s) URLs with a host and no credentials are accepted, even with private targets allowed."""
    with pytest.raises(EgressRefused, match=reason):
        await vet_url(url, allow_private=True)


async def test_a_refused_destination_is_never_contacted(hook: Receiver) -> None:
    """With private targets off, a POST to a local receiver is a permanent failure and sends nothing."""
    outcome = await HttpPoster(allow_private=False).post(hook.url(), b"{}", {})
    assert not outcome.ok
    assert outcome.kind.value == "permanent"
    assert "loopback" in (outcome.error or "")
    assert hook.requests == []


async def test_connections_go_to_the_vetted_addresses_only(hook: Receiver) -> None:
    """The pinned resolver sends a name DNS doesn't know to the vetted address, and refuses other names."""
    target = VettedTarget(url="", host="alerts.invalid", port=hook.port, addresses=("127.0.0.1",))
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(target), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(f"http://alerts.invalid:{hook.port}/pinned", data=b"x") as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientConnectorError):
            async with session.post(f"http://localhost:{hook.port}/other", data=b"x"):
                pass
    assert [r.path for r in hook.requests] == ["/pinned"]
    assert hook.requests[0].headers["Host"] == f"alerts.invalid:{hook.port}"


async def test_redirects_are_not_followed(hook: Receiver) -> None:
    """A 302 is a permanent failure: the new location was never vetted, so it is not visited."""
    hook.answer((302, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    outcome = await HttpPoster(allow_private=True).post(hook.url(), b"{}", {})
    assert outcome.kind.value == "permanent"
    assert outcome.response_code == 302
    assert len(hook.requests) == 1
