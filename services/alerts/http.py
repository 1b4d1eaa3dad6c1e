"""One guarded HTTP POST: vet the URL, connect only to the vetted addresses, classify the answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from services.alerts.egress import EgressLookupFailed, EgressRefused, PinnedResolver, vet_url
from services.alerts.outcome import DeliveryOutcome, OutcomeKind
from services.alerts.retry import classify_http_status, parse_retry_after

__all__ = ["HttpPoster"]

USER_AGENT = "MachineNativeOps-Alerts/1"
# Enough of an error body to explain a failure in the delivery history, not a copy of a page.
_ERROR_BODY_CHARS = 300


@dataclass(frozen=True)
class HttpPoster:
    allow_private: bool
    timeout_seconds: float = 10.0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryOutcome:
        try:
            target = await vet_url(url, allow_private=self.allow_private)
        except EgressRefused as error:
            return DeliveryOutcome.permanent(str(error))
        except EgressLookupFailed as error:
            return DeliveryOutcome.transient(str(error))
        # A connector per request: alerts are few, and a pooled connection must never be reused
        # for a host whose addresses were vetted for another request.
        connector = aiohttp.TCPConnector(
            resolver=PinnedResolver(target), use_dns_cache=False, force_close=True
        )
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        sent_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
                # Redirects are not followed: the new location was never vetted.
                session.post(url, data=body, headers=sent_headers, allow_redirects=False) as response,
            ):
                kind = classify_http_status(response.status)
                if kind is OutcomeKind.SENT:
                    return DeliveryOutcome.sent(response.status)
                excerpt = (await response.text(errors="replace"))[:_ERROR_BODY_CHARS].strip()
                problem = f"HTTP {response.status}" + (f": {excerpt}" if excerpt else "")
                if kind is OutcomeKind.TRANSIENT:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    return DeliveryOutcome.transient(problem, response.status, retry_after)
                return DeliveryOutcome.permanent(problem, response.status)
        except TimeoutError:
            return DeliveryOutcome.transient(f"no answer from {target.host} within {self.timeout_seconds:g}s")
        except (aiohttp.ClientError, OSError) as error:
            return DeliveryOutcome.transient(f"connection to {target.host} failed: {error}")
