"""What the deployment tests share: paths, chart rendering, the metric names the agents export."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from prometheus_client.metrics import MetricWrapperBase

import shared.metrics
from shared.messages.agents import ALL_AGENTS

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "machine-native-ops"
PRODUCTION_VALUES = CHART / "values-production.yaml"
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yaml"
DASHBOARD = DEPLOY / "grafana" / "machine-native-ops.json"
CONFIG = REPO / "config" / "machine-native-ops.yaml"

AGENT_NAMES = [agent.value for agent in ALL_AGENTS]
RELEASE = "mno"
NAMESPACE = "mno"

# `${NAME}`, `${NAME:-default}`; `$${...}` is an escaped literal.
ENV_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\}")

helm.disable_logging()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def production_values() -> dict[str, Any]:
    values: dict[str, Any] = load_yaml(PRODUCTION_VALUES)
    return values


def render(values: dict[str, Any] | None = None, *, chart_path: Path = CHART) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders for these values (NOTES.txt left out)."""
    with helm.Chart.load(chart_path) as chart:
        rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue
        objects.extend(document for document in yaml.safe_load_all(text) if document)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def agent_resource_name(agent: str) -> str:
    return f"{RELEASE}-machine-native-ops-{agent.replace('_', '-')}"


def deployment(objects: list[dict[str, Any]], agent: str) -> dict[str, Any]:
    return one(objects, "Deployment", agent_resource_name(agent))


def container(deploy: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deploy["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one process per pod"
    return containers[0]


def secret_env(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def container_env(spec: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in spec.get("env", [])}


def exported_sample_names() -> set[str]:
    """Every sample name the agents can export: histograms' _bucket/_count/_sum, counters' _total."""
    names: set[str] = set()
    for value in vars(shared.metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
            elif family.type == "counter":
                names.add(f"{family.name}_total")
            else:
                names.add(family.name)
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the Grafana dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def metric_names_in(expr: str) -> set[str]:
    """The mno_* metric names a PromQL expression selects."""
    return set(re.findall(r"\b(mno_[a-z0-9_]+)\b", expr))


def config_references() -> dict[str, bool]:
    """The variables config/machine-native-ops.yaml's values read, each with whether it has a default."""
    found: dict[str, bool] = {}
    for node in walk(load_yaml(CONFIG)):
        if isinstance(node, str):
            for match in ENV_REFERENCE.finditer(node):
                found[match.group(1)] = found.get(match.group(1), False) or match.group(2) is not None
    return found


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
