"""MachineNativeOps configuration: one YAML file, environment substituted, validated at start.

from shared.config import load_settings
settings = load_settings()          # raises ConfigError listing every problem
settings.agents.monitoring.metrics_port
"""

from shared.config.errors import ConfigError
from shared.config.loader import CONFIG_PATH_ENV_VAR, DEFAULT_CONFIG_PATH, load_settings
from shared.config.models import (
    AgentName,
    AgentSettings,
    AgentsSettings,
    AlertsSettings,
    AuthSettings,
    ClickHouseSettings,
    EmailSettings,
    FeatureFlags,
    FeatureName,
    FilesystemStorageSettings,
    GitHubSettings,
    HttpSettings,
    JetStreamSettings,
    LoggingSettings,
    MonitoringSettings,
    NatsSettings,
    PlanEntitlements,
    PostgresSettings,
    S3StorageSettings,
    Settings,
    StorageSettings,
)

__all__ = [
    "CONFIG_PATH_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "AgentName",
    "AgentSettings",
    "AgentsSettings",
    "AlertsSettings",
    "AuthSettings",
    "ClickHouseSettings",
    "ConfigError",
    "EmailSettings",
    "FeatureFlags",
    "FeatureName",
    "FilesystemStorageSettings",
    "GitHubSettings",
    "HttpSettings",
    "JetStreamSettings",
    "LoggingSettings",
    "MonitoringSettings",
    "NatsSettings",
    "PlanEntitlements",
    "PostgresSettings",
    "S3StorageSettings",
    "Settings",
    "StorageSettings",
    "load_settings",
]
