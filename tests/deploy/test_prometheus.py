"""Prometheus: the alert rules under promtool, and a real Prometheus server scraping the real mesh."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.deploy.support import (
    AGENT_NAMES,
    DEPLOY,
    RULES,
    dashboard_queries,
    exported_sample_names,
    load_yaml,
    metric_names_in,
)
from tests.fixtures.mesh import TOKEN, Mesh
from tests.fixtures.stack import free_port

RULES_TESTS = Path(__file__).with_name("prometheus_rules_test.yaml")
MISSING = (
    "{tool} not found: install Debian's prometheus package (`apt-get install -y prometheus`); "
    ".ci/run must install it before `make test`"
)
T = TypeVar("T")


def binary(name: str) -> str:
    """The path of a Prometheus tool. Missing is a failure, never a skip: CI must install it."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(MISSING.format(tool=name))
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60)


# --- promtool --------------------------------------------------------------------------------------


def test_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts deploy/prometheus/rules.yaml."""
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_fire_as_intended() -> None:
    """promtool's unit tests: each alert fires on its condition with its labels and text, only then."""
    result = promtool("test", "rules", str(RULES_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_prometheus_config_passes_promtool_check() -> None:
    """`promtool check config` accepts the compose profile's prometheus.yml with its rule file."""
    result = promtool("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_use_only_metrics_the_agents_export() -> None:
    """Every mno_* name in an alert expression is a sample name shared/metrics.py exports."""
    exported = exported_sample_names()
    rules = [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "MnoAgentDown",
        "MnoAgentNotReady",
        "MnoBusDisconnected",
        "MnoRpcHighLatency",
        "MnoHttpHighLatency",
        "MnoRpcErrorRate",
        "MnoEventsDeadLettered",
    }
    for rule in rules:
        unknown = metric_names_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} uses unknown metrics {unknown}"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


# --- a real Prometheus scraping the mesh -----------------------------------------------------------


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self.api("query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(self, what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
        deadline = time.monotonic() + timeout
        last: T | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log_path.read_text()[-3000:]}")
            last = probe()
            if last:
                return last
            time.sleep(0.25)
        pytest.fail(f"prometheus: {what} not seen in {timeout}s (last: {last}; targets: {self.targets()})")

    def targets(self) -> dict[str, tuple[str, str, float]]:
        """Each job's health, last scrape error and last scrape's duration (what a failure should say)."""
        return {
            t["labels"]["job"]: (t["health"], t.get("lastError", ""), t.get("lastScrapeDuration", 0.0))
            for t in self.api("targets")["activeTargets"]
        }


def scrape_config(mesh: Mesh) -> dict[str, Any]:
    return {
        # The edge's exposition is large once a suite (the fuzzer) has called every route: on a loaded
        # CI machine rendering it took over a second, and a scrape that times out makes every series
        # of its target stale. 3 s is still far below production's 10 s default.
        "global": {"scrape_interval": "3s", "scrape_timeout": "3s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": f"mno-{agent.value}",
                "static_configs": [{"targets": [f"127.0.0.1:{process.metrics_port}"]}],
            }
            for agent, process in mesh.agents.items()
        ],
    }


@pytest.fixture(scope="module")
def prometheus(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Debian's Prometheus, scraping all five running agents every second, with the alert rules."""
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(mesh)))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        server.wait_for("/-/ready", ready)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ping_every_agent(mesh: Mesh) -> None:
    """One request through the edge that every agent handles over the bus."""
    request = urllib.request.Request(
        f"{mesh.edge_url}/api/v1/mesh/ping",
        data=json.dumps({"echo": "prometheus"}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_prometheus_scrapes_every_agent_up(prometheus: Prometheus) -> None:
    """A real Prometheus sees up == 1 for each of the five agents' jobs."""

    def all_up() -> dict[str, str] | None:
        series = prometheus.query('up{job=~"mno-.+"}')
        values = {s["metric"]["job"]: s["value"][1] for s in series}
        return values if len(values) == len(AGENT_NAMES) and set(values.values()) == {"1"} else None

    values = prometheus.wait_for("up == 1 for every agent", all_up)
    assert set(values) == {f"mno-{agent}" for agent in AGENT_NAMES}
    targets = prometheus.api("targets")["activeTargets"]
    assert {t["health"] for t in targets} == {"up"}, targets


def test_prometheus_stores_rpc_latency_histograms_of_every_agent(prometheus: Prometheus, mesh: Mesh) -> None:
    """After a ping via the edge, mno_rpc_handler_duration_seconds_bucket series exist for every agent."""
    ping_every_agent(mesh)

    def without_buckets() -> set[str]:
        series = prometheus.query("count by (agent, endpoint) (mno_rpc_handler_duration_seconds_bucket)")
        return set(AGENT_NAMES) - {s["metric"]["agent"] for s in series if s["metric"].get("endpoint")}

    # Scrapes every few seconds; on a loaded machine the first histograms take longer than 30 s to show.
    deadline = time.monotonic() + 90
    while (missing := without_buckets()) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not missing, (
        f"no rpc histograms of {missing} in 90 s; targets: {prometheus.targets()}; "
        f"instances on the bus: {mesh.bus_instances()}"
    )

    def agents_with_p95() -> set[str] | None:
        # What the latency alert and panels compute; rate() needs two scrapes of each series.
        quantiles = prometheus.query(
            "histogram_quantile(0.95, sum by (agent, le) (rate(mno_rpc_handler_duration_seconds_bucket[1m])))"
        )
        agents = {q["metric"]["agent"] for q in quantiles}
        return agents if agents >= set(AGENT_NAMES) else None

    prometheus.wait_for("p95 per agent", agents_with_p95)


def test_prometheus_loads_and_evaluates_every_rule(prometheus: Prometheus) -> None:
    """The server evaluates every rule without error, and no availability alert fires on a healthy mesh."""
    expected = {rule["alert"] for group in load_yaml(RULES)["groups"] for rule in group["rules"]}

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        done = rules and all(rule["health"] != "unknown" for rule in rules)
        return rules if done else None

    rules = prometheus.wait_for("every rule evaluated", evaluated)
    assert {rule["name"] for rule in rules} == expected
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    active = {alert["labels"]["alertname"] for alert in prometheus.api("alerts")["alerts"]}
    assert not active & {"MnoAgentDown", "MnoAgentNotReady", "MnoBusDisconnected"}, active


def test_dashboard_queries_run_on_the_real_server(prometheus: Prometheus) -> None:
    """Every dashboard query is PromQL the real server evaluates; health panels show every agent."""
    prometheus.wait_for("first scrapes", lambda: prometheus.query('up{job=~"mno-.+"}'))
    for title, expr in dashboard_queries():
        promql = expr.replace("$__rate_interval", "1m").replace("$agent", ".*")
        try:
            prometheus.query(promql)
        except urllib.error.HTTPError as error:
            pytest.fail(f"panel {title!r}: {promql}: {error.read().decode()}")
    for metric in ("mno_agent_ready", "mno_bus_connected"):
        # Prometheus scrapes each target on its own schedule: the first scrapes of some may come later.
        def every_agent(metric: str = metric) -> set[str] | None:
            agents = {s["metric"]["agent"] for s in prometheus.query(f"{metric} == 1")}
            return agents if agents >= set(AGENT_NAMES) else None

        prometheus.wait_for(f"{metric} of every agent", every_agent)
