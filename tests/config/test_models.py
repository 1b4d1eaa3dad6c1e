import base64
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from shared.config import ConfigError, FeatureFlags, FeatureName, Settings, load_settings
from tests.config.conftest import DEFAULT_CONFIG

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"

COMPLETE_GITHUB: dict[str, Any] = {
    "enabled": True,
    "app_id": 12345,
    "client_id": "Iv1.abc",
    "client_secret": "shh",
    "private_keys": [PEM],
    "webhook_secrets": ["current"],
}


def problems(overrides: dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_settings(DEFAULT_CONFIG, env=env or {}, overrides=overrides)
    return caught.value.problems


def test_enabled_github_without_secrets_names_each_missing_key() -> None:
    """Enabling GitHub with nothing else set names every missing credential."""
    required = "required when github.enabled is true"
    assert problems({}, env={"MNO_GITHUB_ENABLED": "true"}) == [
        ("github.app_id", required),
        ("github.client_id", required),
        ("github.client_secret", required),
        ("github.private_keys", f"{required} (or set github.private_key_files)"),
        ("github.webhook_secrets", required),
    ]


def test_enabled_github_with_blank_webhook_secret_names_webhook_secrets() -> None:
    """A blank webhook secret counts as missing, naming github.webhook_secrets."""
    github = {**COMPLETE_GITHUB, "webhook_secrets": ["", "  "]}
    assert problems({"github": github}) == [
        ("github.webhook_secrets", "required when github.enabled is true")
    ]


KEY = "k1:" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_complete_github_settings_load() -> None:
    """With every credential present GitHub can be enabled, along with its feature flag."""
    settings = load_settings(
        DEFAULT_CONFIG,
        env={},
        overrides={
            "github": COMPLETE_GITHUB,
            "features": {"github": True},
            "auth": {"encryption_keys": [KEY]},
        },
    )
    assert settings.github.enabled
    assert settings.features.github
    assert settings.github.client_secret is not None
    assert settings.github.client_secret.get_secret_value() == "shh"


def test_github_requires_an_encryption_key() -> None:
    """Enabling GitHub without auth.encryption_keys is refused, naming the key."""
    reported = problems({"github": COMPLETE_GITHUB})
    assert [key for key, _ in reported] == ["auth.encryption_keys"]


def test_encryption_keys_must_be_id_and_32_bytes() -> None:
    """Keys without an id, of the wrong length, or with a repeated id are named by index."""
    reported = problems({"auth": {"encryption_keys": ["nokeyid", "k2:" + "QUJD", KEY, KEY]}})
    assert [key for key, _ in reported] == [
        "auth.encryption_keys[0]",
        "auth.encryption_keys[1]",
        "auth.encryption_keys[3]",
    ]


def test_keyring_puts_the_first_key_first() -> None:
    """The first configured key is the primary; every key is available for decryption."""
    other = "k0:" + base64.b64encode(bytes(32)).decode()
    settings = load_settings(DEFAULT_CONFIG, env={}, overrides={"auth": {"encryption_keys": [KEY, other]}})
    keyring = settings.auth.keyring()
    assert keyring is not None
    keys, primary = keyring
    assert primary == "k1"
    assert set(keys) == {"k1", "k0"}


def test_github_feature_requires_github_integration() -> None:
    """features.github without github.enabled is rejected, naming features.github."""
    assert problems({"features": {"github": True}}) == [
        ("features.github", "requires github.enabled to be true")
    ]


def test_github_private_keys_must_be_pem_and_at_most_two() -> None:
    """A private key that isn't PEM is named by index; more than two keys in total is rejected."""
    reported = problems({"github": {"private_keys": ["/path/key.pem", PEM], "private_key_files": ["k.pem"]}})
    assert [key for key, _ in reported] == ["github.private_keys[0]", "github.private_keys"]


def test_server_clickhouse_requires_url() -> None:
    """engine: server without a url names clickhouse.url."""
    assert problems({}, env={"MNO_CLICKHOUSE_ENGINE": "server"}) == [
        ("clickhouse.url", 'required when clickhouse.engine is "server"')
    ]
    settings = load_settings(
        DEFAULT_CONFIG, env={"MNO_CLICKHOUSE_ENGINE": "server", "MNO_CLICKHOUSE_URL": "clickhouse://ch:9000"}
    )
    assert settings.clickhouse.url == "clickhouse://ch:9000"


def test_s3_storage_requires_bucket() -> None:
    """backend: s3 without a bucket names storage.s3.bucket."""
    assert problems({}, env={"MNO_STORAGE_BACKEND": "s3"}) == [
        ("storage.s3.bucket", 'required when storage.backend is "s3"')
    ]
    settings = load_settings(DEFAULT_CONFIG, env={"MNO_STORAGE_BACKEND": "s3", "MNO_S3_BUCKET": "blobs"})
    assert settings.storage.s3.bucket == "blobs"
    assert settings.storage.s3.access_key_id is None


def test_s3_access_keys_come_in_pairs() -> None:
    """An S3 access key id without its secret names the missing secret."""
    env = {"MNO_STORAGE_BACKEND": "s3", "MNO_S3_BUCKET": "b", "MNO_S3_ACCESS_KEY_ID": "AKIA"}
    assert problems({}, env=env) == [
        ("storage.s3.secret_access_key", "required when storage.s3.access_key_id is set")
    ]


def test_backoff_must_be_shorter_than_max_deliver() -> None:
    """jetstream.backoff_seconds needs fewer entries than max_deliver, as NATS requires."""
    assert problems({"jetstream": {"max_deliver": 4}}) == [
        ("jetstream.backoff_seconds", "has 4 entries; it must have fewer than jetstream.max_deliver (4)")
    ]
    settings = load_settings(
        DEFAULT_CONFIG, env={}, overrides={"jetstream": {"max_deliver": 2, "backoff_seconds": [3]}}
    )
    assert settings.jetstream.backoff_seconds == [3.0]


def test_backoff_entries_must_be_positive() -> None:
    """A non-positive backoff delay is named by its index."""
    [(key, message)] = problems({"jetstream": {"backoff_seconds": [1, 0]}})
    assert key == "jetstream.backoff_seconds[1]"
    assert "greater than 0" in message


def test_postgres_pool_bounds_are_ordered() -> None:
    """max_pool below min_pool names postgres.max_pool."""
    assert problems({"postgres": {"min_pool": 5, "max_pool": 2}}) == [
        ("postgres.max_pool", "must be at least postgres.min_pool (5)")
    ]


def test_nats_credentials_are_consistent() -> None:
    """A NATS user needs a password, and a token excludes both."""
    assert problems({}, env={"MNO_NATS_USER": "mno"}) == [("nats.password", "required when nats.user is set")]
    reported = problems({}, env={"MNO_NATS_USER": "u", "MNO_NATS_PASSWORD": "p", "MNO_NATS_TOKEN": "t"})
    assert reported == [("nats.token", "cannot be combined with nats.user/nats.password")]


def test_email_tls_modes_are_exclusive() -> None:
    """STARTTLS and implicit TLS together are rejected, naming email.use_tls."""
    assert problems({"email": {"starttls": True, "use_tls": True}}) == [
        ("email.use_tls", "cannot be combined with email.starttls")
    ]


def test_urls_are_checked() -> None:
    """URL settings must use an expected scheme, and the error names the key."""
    assert problems({"nats": {"servers": ["localhost:4222"]}}) == [
        ("nats.servers[0]", "must be a URL starting with nats:// or tls:// or ws:// or wss://")
    ]
    assert problems({"http": {"public_url": "example.com"}}) == [
        ("http.public_url", "must be a URL starting with http:// or https://")
    ]


def test_blank_values_mean_unset() -> None:
    """Blank optional values load as None, blank list entries are dropped, and null lists are empty."""
    settings = load_settings(
        DEFAULT_CONFIG,
        env={"GITHUB_WEBHOOK_SECRET_PREVIOUS": "old"},
        overrides={"github": {"private_key_files": None}, "http": {"trusted_proxies": ["", "10.0.0.0/8"]}},
    )
    assert [secret.get_secret_value() for secret in settings.github.webhook_secrets] == ["old"]
    assert settings.github.private_key_files == []
    assert settings.github.app_id is None
    assert settings.http.public_url is None
    assert settings.http.trusted_proxies == ["10.0.0.0/8"]


def test_data_paths_default_under_data_dir_unless_set() -> None:
    """chdb_path and blob_root follow data_dir unless configured explicitly."""
    settings = load_settings(
        DEFAULT_CONFIG,
        env={"MNO_DATA_DIR": "/data"},
        overrides={"storage": {"filesystem": {"root": "/blobs"}}},
    )
    assert settings.chdb_path == Path("/data/clickhouse")
    assert settings.blob_root == Path("/blobs")


def test_partial_agent_entry_keeps_its_own_metrics_port() -> None:
    """An agent entry without metrics_port gets that agent's default port, not an error."""
    settings = Settings(agents={"learning": {"replicas_hint": 2}})
    assert settings.agents.learning.metrics_port == 9104
    assert settings.agents.by_name("monitoring").metrics_port == 9101


def test_local_ports_must_not_clash() -> None:
    """Locally, two listeners on one port are rejected, naming the later one; elsewhere allowed."""
    env = {"MNO_MONITORING_METRICS_PORT": "9100"}
    assert problems({}, env=env) == [
        ("agents.monitoring.metrics_port", "port 9100 is already used by agents.super_agent.metrics_port")
    ]
    settings = load_settings(DEFAULT_CONFIG, env={**env, "MNO_ENVIRONMENT": "production"})
    assert settings.agents.monitoring.metrics_port == 9100


def test_log_level_is_case_insensitive() -> None:
    """MNO_LOG_LEVEL=debug is accepted as DEBUG."""
    assert load_settings(DEFAULT_CONFIG, env={"MNO_LOG_LEVEL": "warning"}).logging.level == "WARNING"


def test_plan_features_must_be_known_feature_names() -> None:
    """A plan listing an unknown feature is rejected, and plan features match the feature flags."""
    [(key, _)] = problems({"plans": {"free": {"features": ["telepathy"]}}})
    assert key == "plans.free.features[0]"
    assert set(get_args(FeatureName)) == set(FeatureFlags.model_fields)


def test_settings_are_frozen() -> None:
    """Loaded settings cannot be changed at run time."""
    settings = load_settings(DEFAULT_CONFIG, env={})
    with pytest.raises(ValidationError):
        settings.http.port = 1  # type: ignore[misc]
