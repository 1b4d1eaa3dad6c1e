"""Prometheus metrics of proxy mode (the edge process's default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.metrics import LATENCY_BUCKETS

PROXY_CALLS_TOTAL = Counter(
    "mno_proxy_calls_total",
    "Calls through proxy mode, by provider and outcome (recorded, unrecorded, upstream_error, "
    "upstream_unreachable, refused_by_budget).",
    ["provider", "outcome"],
)
PROXY_UNRECORDED_TOTAL = Counter(
    "mno_proxy_unrecorded_total",
    "Successful proxied calls whose usage was not stored, by provider and reason (no_usage, "
    "invalid_usage, plan_limit, budget, unavailable, rejected).",
    ["provider", "reason"],
)
PROXY_OVERHEAD_SECONDS = Histogram(
    "mno_proxy_upstream_seconds",
    "Time from the proxy sending a call upstream to the provider's response headers, by provider.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
