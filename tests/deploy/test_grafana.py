"""deploy/grafana/machine-native-ops.json: the platform's own Grafana dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.support import DASHBOARD, dashboard_queries, exported_sample_names, metric_names_in


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return parsed


def test_dashboard_is_importable_json(dashboard: dict[str, Any]) -> None:
    """The file is a Grafana dashboard whose panels all use its Prometheus data source variable."""
    assert dashboard["uid"] == "machine-native-ops"
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_every_query_uses_metrics_the_agents_export(dashboard: dict[str, Any]) -> None:
    """Each panel expression selects only mno_* sample names that shared/metrics.py exports (or up)."""
    exported = exported_sample_names()
    for title, expr in dashboard_queries():
        names = metric_names_in(expr)
        assert names or "up{" in expr, f"{title}: no metric"
        assert not names - exported, f"{title}: unknown metrics {names - exported}"


def test_dashboard_covers_the_platform_health(dashboard: dict[str, Any]) -> None:
    """Up, ready, bus, request rate and p95 per agent and route, and event outcomes all have panels."""
    expressions = " ".join(expr for _, expr in dashboard_queries())
    for needle in (
        'up{job=~"mno-.+"}',
        "mno_agent_ready",
        "mno_bus_connected",
        "rate(mno_rpc_handler_duration_seconds_count",
        "histogram_quantile(0.95, sum by (agent, endpoint, le) (rate(mno_rpc_handler_duration_seconds_bucket",
        "rate(mno_http_request_duration_seconds_count",
        "histogram_quantile(0.95, sum by (method, route, le) (rate(mno_http_request_duration_seconds_bucket",
        "mno_events_total",
        'outcome="dead_lettered"',
        'outcome="retried"',
    ):
        assert needle in expressions, needle
