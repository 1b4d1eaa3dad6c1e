"""The Helm chart and the supply chain's signing key: several SupplyChainAgent replicas without a
configured key would each sign with a key of their own (generated in the pod's data directory), so
rendering refuses it; with the key, or an existing Secret that holds it, the key reaches every pod's
configuration. Rendered offline with helm-python-sdk, as tests/deploy/test_helm_chart.py does."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.config import load_settings
from tests.deploy.support import (
    CHART,
    RELEASE,
    container,
    deployment,
    one,
    production_values,
    render,
    secret_env,
)

FULLNAME = f"{RELEASE}-machine-native-ops"
SCALED = [
    {"agents": {"supply_chain": {"replicas": 2}}},
    {"agents": {"supply_chain": {"autoscaling": {"enabled": True}}}},
]


def signing_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


@pytest.mark.parametrize("values", SCALED, ids=["replicas", "autoscaling"])
def test_several_supply_chain_replicas_without_a_signing_key_are_refused(
    values: dict[str, Any], tmp_path: Path
) -> None:
    """Two replicas, or autoscaling, with no signing key and no existing Secret fail rendering with a
    message naming the setting, with the values schema and without it (--skip-schema-validation)."""
    with pytest.raises(helm.HelmRenderError, match=r"supplyChain\.signingKey .*MNO_SUPPLY_CHAIN_SIGNING_KEY"):
        render(values)
    unchecked = tmp_path / "chart"
    shutil.copytree(CHART, unchecked)
    (unchecked / "values.schema.json").unlink()
    with pytest.raises(helm.HelmRenderError, match="each pod generates a signing key of its own"):
        render(values, chart_path=unchecked)


@pytest.mark.parametrize("values", SCALED, ids=["replicas", "autoscaling"])
def test_several_replicas_with_a_signing_key_share_it(values: dict[str, Any], tmp_path: Path) -> None:
    """With supplyChain.signingKey the scaled chart renders, and every supply chain pod's configuration
    (ConfigMap plus the chart's Secret) loads with that one key."""
    key = signing_key()
    objects = render({**values, "supplyChain": {"signingKey": key}})
    workload = deployment(objects, "supply_chain")
    secret_name = next(s["secretRef"]["name"] for s in container(workload)["envFrom"] if "secretRef" in s)
    config_map = next(v for v in workload["spec"]["template"]["spec"]["volumes"] if "configMap" in v)
    path = tmp_path / "config.yaml"
    path.write_text(
        one(objects, "ConfigMap", config_map["configMap"]["name"])["data"]["machine-native-ops.yaml"]
    )
    settings = load_settings(path, env=secret_env(one(objects, "Secret", secret_name)))
    assert settings.supply_chain.signing_key is not None
    assert settings.supply_chain.signing_key.get_secret_value() == key


def test_one_replica_or_an_existing_secret_needs_no_key_in_the_values() -> None:
    """The default single replica renders without a key (it keeps its generated one), and so does
    values-production.yaml, whose two replicas take the key from its existing Secret."""
    assert deployment(render(), "supply_chain")["spec"]["replicas"] == 1
    production = production_values()
    assert production["agents"]["supply_chain"]["replicas"] > 1
    assert not production.get("supplyChain", {}).get("signingKey")
    assert (
        deployment(render(production), "supply_chain")["spec"]["replicas"]
        == production["agents"]["supply_chain"]["replicas"]
    )


def test_the_production_example_says_how_to_put_the_key_in_its_secret() -> None:
    """values-production.yaml's Secret recipe creates MNO_SUPPLY_CHAIN_SIGNING_KEY from an Ed25519 key."""
    text = (CHART / "values-production.yaml").read_text()
    assert "openssl genpkey -algorithm ed25519 -out signing-key.pem" in text
    assert "--from-file=MNO_SUPPLY_CHAIN_SIGNING_KEY=signing-key.pem" in text
