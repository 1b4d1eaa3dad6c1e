from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from shared.config import ConfigError, Settings, load_settings
from tests.config.conftest import DEFAULT_CONFIG

WriteConfig = Callable[[str], Path]


def problems_of(path: Path, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, **kwargs)
    return caught.value.problems


def test_default_file_loads_with_no_environment() -> None:
    """The shipped config file, with no env vars set, is exactly the local default Settings."""
    settings = load_settings(DEFAULT_CONFIG, env={})
    assert settings == Settings()
    assert settings.environment == "local"
    assert settings.github.enabled is False
    assert settings.github.webhook_secrets == []
    assert settings.github.client_secret is None
    assert settings.auth.bootstrap_token is None


def _assert_every_field_present(model: type[BaseModel], data: Any, path: str) -> None:
    assert isinstance(data, dict), f"{path} should be a mapping"
    missing = [name for name in model.model_fields if name not in data]
    assert not missing, f"{path or 'top level'} lacks {missing}"
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _assert_every_field_present(annotation, data[name], f"{path}.{name}".lstrip("."))
        elif get_origin(annotation) is dict:
            entry_model = get_args(annotation)[1]
            for key, entry in data[name].items():
                _assert_every_field_present(entry_model, entry, f"{path}.{name}.{key}".lstrip("."))


def test_default_file_spells_out_every_setting() -> None:
    """Every Settings field appears in the shipped file, so it documents the whole schema."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    _assert_every_field_present(Settings, data, "")


def test_environment_reaches_settings_through_the_file() -> None:
    """Variables referenced in the file set typed values; empty-default secrets fill lists."""
    env = {
        "MNO_HTTP_PORT": "9000",
        "MNO_LOG_LEVEL": "debug",
        "GITHUB_WEBHOOK_SECRET": "0123",
        "MNO_DATA_DIR": "/var/lib/mno",
    }
    settings = load_settings(DEFAULT_CONFIG, env=env)
    assert settings.http.port == 9000
    assert settings.logging.level == "DEBUG"
    assert [secret.get_secret_value() for secret in settings.github.webhook_secrets] == ["0123"]
    assert settings.chdb_path == Path("/var/lib/mno/clickhouse")
    assert settings.blob_root == Path("/var/lib/mno/blobs")


def test_config_path_defaults_to_mno_config_variable(write_config: WriteConfig) -> None:
    """Without a path argument, $MNO_CONFIG names the file."""
    path = write_config("http:\n  port: 8181\n")
    assert load_settings(env={"MNO_CONFIG": str(path)}).http.port == 8181


def test_error_message_format_names_file_and_key(write_config: WriteConfig) -> None:
    """str(ConfigError) is one `file: key.path: message` line per problem."""
    path = write_config(
        "github:\n  enabled: true\n  app_id: 1\n  client_id: Iv1.x\n  private_key_files: [k.pem]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert str(caught.value).splitlines() == [
        f"{path}: github.client_secret: required when github.enabled is true",
        f"{path}: github.webhook_secrets: required when github.enabled is true",
    ]


def test_missing_variable_names_key_path_and_variable(write_config: WriteConfig) -> None:
    """A variable without default that is unset fails, naming the key path and the variable."""
    path = write_config('github:\n  webhook_secrets:\n    - "${GITHUB_WEBHOOK_SECRET}"\n')
    assert problems_of(path, env={}) == [
        (
            "github.webhook_secrets[0]",
            "environment variable GITHUB_WEBHOOK_SECRET is not set and has no default",
        )
    ]


def test_misspelled_top_level_key_is_named(write_config: WriteConfig) -> None:
    """An unknown section fails, naming it and suggesting the likely intended key."""
    path = write_config("htp:\n  port: 80\n")
    assert problems_of(path, env={}) == [("htp", "unknown key (did you mean 'http'?)")]


def test_misspelled_nested_key_is_named(write_config: WriteConfig) -> None:
    """An unknown key inside a section fails with its dotted path."""
    path = write_config("http:\n  prot: 80\n")
    assert problems_of(path, env={}) == [("http.prot", "unknown key (did you mean 'port'?)")]


def test_wrong_type_is_named(write_config: WriteConfig) -> None:
    """A value of the wrong type fails, naming its key and not echoing the value."""
    path = write_config("http:\n  port: eighty\n")
    [(key, message)] = problems_of(path, env={})
    assert key == "http.port"
    assert "integer" in message
    assert "eighty" not in message


def test_all_problems_are_reported_together(write_config: WriteConfig) -> None:
    """Several mistakes produce one error with one line each."""
    path = write_config("htp: {}\nhttp:\n  port: 0\nlogging:\n  level: LOUD\n")
    keys = [key for key, _ in problems_of(path, env={})]
    assert sorted(keys) == ["htp", "http.port", "logging.level"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that doesn't exist is a ConfigError naming the file."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_settings(missing, env={})


def test_yaml_syntax_error_reports_line(write_config: WriteConfig) -> None:
    """Broken YAML fails with the line (and column) of the problem."""
    path = write_config("http:\n  port: 8080\n  host: [unclosed\nnats: {}\n")
    [(key, message)] = problems_of(path, env={})
    assert key == ""
    assert message.startswith("invalid YAML: line 4, column 5:")


def test_top_level_must_be_a_mapping(write_config: WriteConfig) -> None:
    """A file whose top level is a list or scalar is rejected."""
    assert problems_of(write_config("- http\n"), env={}) == [
        ("", "top level must be a mapping of sections, not a list")
    ]


def test_empty_file_gives_defaults(write_config: WriteConfig) -> None:
    """An empty (or comment-only) file means every setting at its default."""
    assert load_settings(write_config("# nothing here\n"), env={}) == Settings()


def test_duplicate_keys_are_errors(write_config: WriteConfig) -> None:
    """A key given twice in one mapping fails instead of the last one silently winning."""
    path = write_config("http:\n  port: 1\nnats: {}\nhttp:\n  host: x\n")
    assert problems_of(path, env={}) == [("http", "duplicate key (line 4; first defined on line 1)")]


def test_underscore_keys_never_reach_base_settings(write_config: WriteConfig) -> None:
    """`_env_file` and friends are unknown keys, not pydantic-settings instructions."""
    assert problems_of(write_config("_env_file: /etc/passwd\n"), env={}) == [("_env_file", "unknown key")]


def test_overrides_deep_merge_after_substitution() -> None:
    """Overrides replace single keys inside sections and keep the file's other values."""
    settings = load_settings(
        DEFAULT_CONFIG,
        env={"MNO_HTTP_PORT": "9000"},
        overrides={
            "http": {"host": "0.0.0.0"},
            "storage": {"s3": {"region": "eu-west-1"}},
            "jetstream": {"max_deliver": 9},
        },
    )
    assert (settings.http.host, settings.http.port) == ("0.0.0.0", 9000)
    assert settings.storage.s3.region == "eu-west-1"
    assert settings.storage.backend == "filesystem"
    assert settings.jetstream.max_deliver == 9
    assert settings.jetstream.backoff_seconds == [1.0, 5.0, 30.0, 120.0]


def test_overrides_are_validated_like_the_file() -> None:
    """A bad override is reported with its key path like any file value."""
    with pytest.raises(ConfigError, match=r"http\.prot: unknown key"):
        load_settings(DEFAULT_CONFIG, env={}, overrides={"http": {"prot": 1}})


def test_stray_environment_variables_do_not_change_settings(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Env vars not referenced by the file (MNO_*, or BaseSettings-style names) are ignored."""
    for name, value in {
        "ENVIRONMENT": "production",
        "DATA_DIR": "/elsewhere",
        "HTTP": '{"port": 1}',
        "LOGGING": '{"level": "DEBUG"}',
        "MNO_HTTP__PORT": "1",
        "MNO_LOGGING__LEVEL": "DEBUG",
        "MNO_ENV": "production",
    }.items():
        monkeypatch.setenv(name, value)
    assert Settings() == Settings.model_construct()
    assert Settings().environment == "local"
    assert load_settings(write_config("{}\n")) == load_settings(write_config("{}\n"), env={})
    assert load_settings(write_config("{}\n")).http.port == 8080
