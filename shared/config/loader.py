"""Read the config file, substitute the environment into it and validate it into Settings.

Every way a configuration can be wrong ends in one ConfigError listing each problem on its own
line, so `mno` can print it and exit before any process starts.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.config.errors import ConfigError, problems_from_validation_error
from shared.config.key_path import format_key_path
from shared.config.models import Settings
from shared.config.substitution import SubstitutionError, substitute_env
from shared.config.yaml_document import (
    YamlDocumentError,
    compose_document,
    construct_document,
    find_duplicate_keys,
)

CONFIG_PATH_ENV_VAR = "MNO_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/machine-native-ops.yaml")


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load and validate the configuration.

    `path` defaults to $MNO_CONFIG, then `config/machine-native-ops.yaml` (relative to the working
    directory). `env` (default: the process environment) supplies `${...}` values. `overrides` is
    a nested mapping deep-merged over the file after substitution, for tests and the CLI.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    source = path if path is not None else Path(environ.get(CONFIG_PATH_ENV_VAR) or DEFAULT_CONFIG_PATH)
    data = _read_config_mapping(source, environ)
    if overrides:
        data = deep_merge(data, overrides)
    return _validate(data, source)


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _read_config_mapping(source: Path, env: Mapping[str, str]) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([("", "config file not found")], source=source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([("", f"config file is not UTF-8 text ({exc.reason})")], source=source) from None
    except OSError as exc:
        raise ConfigError([("", f"cannot read config file: {exc.strerror or exc}")], source=source) from None

    try:
        document = compose_document(text)
    except YamlDocumentError as exc:
        raise ConfigError([("", f"invalid YAML: {exc}")], source=source) from None
    if document is None:  # an empty file: every setting at its default
        return {}

    duplicates = find_duplicate_keys(document)
    if duplicates:
        raise ConfigError([(format_key_path(path), message) for path, message in duplicates], source=source)
    try:
        document = substitute_env(document, env)
    except SubstitutionError as exc:
        problems = [(format_key_path(path), message) for path, message in exc.problems]
        raise ConfigError(problems, source=source) from None
    try:
        data = construct_document(document)
    except YamlDocumentError as exc:
        raise ConfigError([("", f"invalid YAML: {exc}")], source=source) from None

    if not isinstance(data, dict):
        raise ConfigError(
            [("", f"top level must be a mapping of sections, not {_kind(data)}")], source=source
        )
    return data


def _validate(data: Mapping[Any, Any], source: Path) -> Settings:
    # BaseSettings treats some `_`-prefixed keyword arguments (`_env_file`, `_secrets_dir`, ...)
    # as instructions for itself, so they must never reach it from a file. Settings fields can't
    # start with `_` anyway, so such keys are simply unknown.
    bad_keys = [key for key in data if not isinstance(key, str) or key.startswith("_")]
    if bad_keys:
        raise ConfigError([(str(key), "unknown key") for key in bad_keys], source=source)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation_error(exc, Settings), source=source) from None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


__all__ = ["CONFIG_PATH_ENV_VAR", "DEFAULT_CONFIG_PATH", "ConfigError", "deep_merge", "load_settings"]
