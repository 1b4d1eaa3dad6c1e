"""deploy/compose.yaml: the whole platform on real servers, one container per process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config import load_settings
from shared.config.models import DEFAULT_METRICS_PORTS
from tests.deploy.support import AGENT_NAMES, CONFIG, DEPLOY, config_references

COMPOSE = DEPLOY / "compose.yaml"
# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}; $$ is a literal $.
COMPOSE_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# Read by the image itself (Dockerfile ENV), not by the config file.
IMAGE_VARIABLES = {"MNO_CONFIG"}


def interpolate(text: str, env: dict[str, str]) -> str:
    """What `docker compose` does to the file's text before parsing it (the forms this file uses)."""

    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3) or ""
        value = env.get(name)
        if operator == ":-":
            return value if value else default
        if operator == "-":
            return value if value is not None else default
        if value is None:
            raise AssertionError(f"compose variable {name} has no default")
        return value

    return COMPOSE_REFERENCE.sub(replace, text).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as `docker compose config` sees it with an empty environment."""
    parsed: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE.read_text(), {}))
    return parsed


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def test_every_compose_variable_has_a_default() -> None:
    """Every `${VAR}` in compose.yaml has a default, so `docker compose up` works with no .env file."""
    for match in COMPOSE_REFERENCE.finditer(COMPOSE.read_text()):
        assert match.group(2) in {":-", "-"}, f"{match.group(0)} has no default"


def test_servers_of_the_platform_are_there(services: dict[str, Any]) -> None:
    """NATS 2.10 with JetStream, PostgreSQL, a ClickHouse server, MinIO and its bucket are services."""
    assert services["nats"]["image"] == "nats:2.10"
    assert "-js" in services["nats"]["command"]
    for name in ("postgres", "clickhouse", "minio"):
        assert "healthcheck" in services[name], name
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    bucket = services["super_agent"]["environment"]["MNO_S3_BUCKET"]
    assert f"local/{bucket}" in " ".join(services["minio-bucket"]["entrypoint"])


def test_every_agent_runs_from_the_image_with_its_name(services: dict[str, Any]) -> None:
    """Each agent is a read-only service of the project's image whose command is the agent's name."""
    image = services["migrate"]["image"]
    for agent in AGENT_NAMES:
        service = services[agent]
        assert service["image"] == image
        assert service["build"]["context"] == ".."
        assert service["command"] == [agent]
        assert "entrypoint" not in service
        assert service["read_only"] is True
        assert "/tmp" in service["tmpfs"]
        assert service["cap_drop"] == ["ALL"]


def test_migrate_runs_once_before_every_agent(services: dict[str, Any]) -> None:
    """A one-shot `mno migrate` waits for healthy PostgreSQL and ClickHouse; agents wait for it."""
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["mno", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    for agent in AGENT_NAMES:
        depends = services[agent]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", agent
        assert "nats" in depends


def test_dependencies_name_existing_services(services: dict[str, Any]) -> None:
    """Every depends_on entry names a service of the file."""
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_agent_healthchecks_ask_readyz_on_the_agents_metrics_port(services: dict[str, Any]) -> None:
    """Each agent's healthcheck requests /readyz on its own metrics port."""
    for agent in AGENT_NAMES:
        test = " ".join(services[agent]["healthcheck"]["test"])
        port = DEFAULT_METRICS_PORTS[agent]  # type: ignore[index]
        assert f"http://127.0.0.1:{port}/readyz" in test, agent


def test_agent_environment_is_read_by_the_config_file(services: dict[str, Any]) -> None:
    """Every variable set on the agents is one the config file reads, and all it requires are set."""
    references = config_references()
    referenced = set(references)
    required = {name for name, has_default in references.items() if not has_default}
    assert "MNO_NATS_URL" in referenced
    for agent in [*AGENT_NAMES, "migrate"]:
        environment = services[agent]["environment"]
        unknown = set(environment) - referenced - IMAGE_VARIABLES
        assert not unknown, f"{agent}: the config file never reads {sorted(unknown)}"
        assert required <= set(environment), f"{agent} lacks {sorted(required - set(environment))}"


def test_agent_environment_makes_a_valid_production_config(services: dict[str, Any], tmp_path: Path) -> None:
    """The compose environment makes the image's config valid: ClickHouse server, S3, 0.0.0.0."""
    env = {key: str(value) for key, value in services["super_agent"]["environment"].items()}
    settings = load_settings(CONFIG, env=env)
    assert settings.environment == "production"
    assert settings.nats.servers == ["nats://nats:4222"]
    assert "@postgres:5432/" in settings.postgres.dsn
    assert settings.clickhouse.engine == "server"
    assert settings.clickhouse.url is not None
    assert "@clickhouse:9000/" in settings.clickhouse.url
    assert settings.storage.backend == "s3"
    assert settings.storage.s3.endpoint_url == "http://minio:9000"
    assert settings.http.host == "0.0.0.0"
    for agent in AGENT_NAMES:
        assert settings.agents.by_name(agent).metrics_host == "0.0.0.0"  # type: ignore[arg-type]


def test_edge_port_is_published(services: dict[str, Any]) -> None:
    """The SuperAgent publishes the HTTP port its configuration listens on; no other agent publishes."""
    env = {key: str(value) for key, value in services["super_agent"]["environment"].items()}
    http_port = load_settings(CONFIG, env=env).http.port
    published = [str(port) for port in services["super_agent"]["ports"]]
    assert any(port.rsplit(":", 1)[-1] == str(http_port) for port in published), published
    for agent in AGENT_NAMES[1:]:
        assert "ports" not in services[agent], agent


def test_prometheus_profile_scrapes_every_agent(services: dict[str, Any]) -> None:
    """The optional Prometheus scrapes each agent's metrics port as job mno-<agent>, with the rules."""
    assert services["prometheus"]["profiles"] == ["monitoring"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {f"mno-{a}": [f"{a}:{DEFAULT_METRICS_PORTS[a]}"] for a in AGENT_NAMES}  # type: ignore[index]
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "./prometheus/rules.yaml:" in mounts
