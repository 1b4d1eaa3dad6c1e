"""The egress guard: alert targets are URLs teams choose, so they must not reach inside our network.

`vet_url` checks the scheme, resolves the host and refuses it when any address it resolves to is
loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved,
unspecified or otherwise not globally routable, including such IPv4 addresses written as
IPv4-mapped (::ffff:a.b.c.d) or 6to4/Teredo IPv6. Any bad address refuses the whole host: a
client might pick it.

The check is only worth something if the connection goes to the addresses checked. A second DNS
lookup at connect time could answer differently (DNS rebinding), so `PinnedResolver` hands the
HTTP client the vetted addresses and nothing else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

__all__ = ["EgressRefused", "PinnedResolver", "VettedTarget", "refusal_reason", "vet_url"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(Exception):
    """The URL may not be used as an alert target; the message says why, for the user."""


class EgressLookupFailed(Exception):
    """The host did not resolve (now); that may pass."""


@dataclass(frozen=True)
class VettedTarget:
    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def refusal_reason(address: IPAddress) -> str | None:
    """Why an address must not be a target, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return None if reason is None else f"{reason} (embedded in {address})"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        # Catches what the named ranges miss, e.g. 100.64.0.0/10 (carrier-grade NAT).
        (not address.is_global, "not globally routable"),
    )
    for matched, label in checks:
        if matched:
            return f"{address} is a {label} address"
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or `EgressRefused`. Parsed with yarl, as aiohttp
    parses it, so the host checked (IDNA-encoded) is the host the client will ask for."""
    try:
        parsed = URL(url)
        port = parsed.port
    except ValueError as error:
        raise EgressRefused(f"not a valid URL: {error}") from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise EgressRefused("only http:// and https:// URLs can be alert targets")
    host = parsed.raw_host
    if not host:
        raise EgressRefused("the URL has no host")
    if parsed.user is not None or parsed.password is not None:
        # Credentials in the authority would be logged and shown with the URL; use a header secret.
        raise EgressRefused("the URL must not contain a user name or password")
    return parsed.scheme, host, port or _DEFAULT_PORTS[parsed.scheme]


async def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address `host` resolves to (an IP literal is its own answer)."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise EgressLookupFailed(f"{host} does not resolve: {error}") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise EgressLookupFailed(f"{host} resolves to no address")
    return addresses


async def vet_url(url: str, *, allow_private: bool) -> VettedTarget:
    """Check `url` and resolve its host; `EgressRefused` if it may not be a target,
    `EgressLookupFailed` if its host does not resolve."""
    _, host, port = split_url(url)
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                shown = host if host == address else f"{host} resolves to {address}, which"
                raise EgressRefused(
                    f"{shown} is not allowed as an alert target: {reason} "
                    "(an operator can allow private targets with alerts.allow_private_targets)"
                )
    return VettedTarget(url=url, host=host, port=port, addresses=addresses)


class PinnedResolver(AbstractResolver):
    """Answers aiohttp's lookups with the vetted addresses of one host, and refuses any other host."""

    def __init__(self, target: VettedTarget) -> None:
        self._target = target

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.lower().rstrip(".") != self._target.host.lower().rstrip("."):
            raise OSError(f"{host} was not vetted as an alert target")
        results: list[ResolveResult] = []
        for address in self._target.addresses:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
            results.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port or self._target.port,
                    family=socket.AF_INET6 if parsed.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None
