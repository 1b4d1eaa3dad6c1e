"""The typed shape of `config/machine-native-ops.yaml`.

Every model forbids unknown keys (a misspelled key is an error, not a silently ignored setting)
and is frozen (settings are read once at start and shared between tasks). Defaults describe the
local embedded stack, so an empty config file is a working local setup.

Unset means unset: an empty or blank string loads as None for optional values, and blank entries
are dropped from lists. The config file relies on this, writing e.g.
`webhook_secrets: ["${GITHUB_WEBHOOK_SECRET:-}", "${GITHUB_WEBHOOK_SECRET_PREVIOUS:-}"]`,
which is `[]`, `[current]` or `[current, previous]` depending on what the environment provides.
"""

import base64
import binascii
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.config.key_path import KeyPath, format_key_path

# Cross-field checks run in a model-level validator, where pydantic can only report the model's
# own location. They raise this error type instead, with each problem's path relative to the
# model in the context, so the loader can name the exact key (`storage.s3.bucket`, not `storage`).
FIELD_PROBLEMS_ERROR_TYPE = "mno_field_problems"


def _raise_field_problems(problems: Sequence[tuple[KeyPath, str]]) -> None:
    if not problems:
        return
    summary = "; ".join(f"{format_key_path(path)}: {message}" for path, message in problems)
    raise PydanticCustomError(
        FIELD_PROBLEMS_ERROR_TYPE, "{summary}", {"summary": summary, "problems": tuple(problems)}
    )


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_to_none(value: object) -> object:
    return None if _is_blank(value) else value


def _drop_blank_entries(value: object) -> object:
    if _is_blank(value):
        return []
    if isinstance(value, list):
        return [item for item in value if not _is_blank(item)]
    return value


def _upper_case(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _url_checker(schemes: frozenset[str]) -> AfterValidator:
    expected = " or ".join(f"{scheme}://" for scheme in sorted(schemes))

    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise PydanticCustomError(
                "url_scheme", "must be a URL starting with {expected}", {"expected": expected}
            )
        return value

    return AfterValidator(check)


def _check_ip_or_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError("ip_network", "must be an IP address or CIDR network") from None
    return value


Port = Annotated[int, Field(ge=1, le=65535)]
PositiveSeconds = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
# Names that end up in NATS subjects/stream names, SQL identifiers or cookie names.
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]

HttpUrl = Annotated[str, _url_checker(frozenset({"http", "https"}))]
NatsUrl = Annotated[str, _url_checker(frozenset({"nats", "tls", "ws", "wss"}))]
PostgresDsn = Annotated[str, _url_checker(frozenset({"postgresql", "postgres"}))]

OptionalStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_to_none)]
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_to_none)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptionalHttpUrl = Annotated[HttpUrl | None, BeforeValidator(_blank_to_none)]

StrList = Annotated[list[str], BeforeValidator(_drop_blank_entries)]
SecretList = Annotated[list[SecretStr], BeforeValidator(_drop_blank_entries)]
PathList = Annotated[list[Path], BeforeValidator(_drop_blank_entries)]

FeatureName = Literal[
    "github", "artifacts", "supply_chain", "prompts", "dashboard", "anomaly_detection", "forecasts"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSettings(_Section):
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Port = 8080
    public_url: OptionalHttpUrl = None
    max_body_bytes: PositiveInt = 1_048_576
    request_timeout_seconds: PositiveSeconds = 10.0
    trusted_proxies: Annotated[
        list[Annotated[str, AfterValidator(_check_ip_or_network)]], BeforeValidator(_drop_blank_entries)
    ] = []


class NatsSettings(_Section):
    servers: Annotated[list[NatsUrl], BeforeValidator(_drop_blank_entries), Field(min_length=1)] = [
        "nats://127.0.0.1:4222"
    ]
    user: OptionalSecret = None
    password: OptionalSecret = None
    token: OptionalSecret = None
    request_timeout_seconds: PositiveSeconds = 5.0
    connect_timeout_seconds: PositiveSeconds = 5.0
    name_prefix: Token = "mno"

    @model_validator(mode="after")
    def _credentials_are_consistent(self) -> Self:
        problems: list[tuple[KeyPath, str]] = []
        if (self.user is None) != (self.password is None):
            missing = "password" if self.password is None else "user"
            present = "user" if missing == "password" else "password"
            problems.append(((missing,), f"required when nats.{present} is set"))
        if self.token is not None and (self.user is not None or self.password is not None):
            problems.append((("token",), "cannot be combined with nats.user/nats.password"))
        _raise_field_problems(problems)
        return self


class JetStreamSettings(_Section):
    events_stream: Token = "MNO_EVENTS"
    dlq_stream: Token = "MNO_DLQ"
    replicas: Annotated[int, Field(ge=1, le=5)] = 1
    max_age_days: PositiveInt = 7
    dlq_max_age_days: PositiveInt = 30
    duplicate_window_seconds: PositiveSeconds = 120.0
    ack_wait_seconds: PositiveSeconds = 30.0
    max_deliver: PositiveInt = 5
    backoff_seconds: list[PositiveSeconds] = [1.0, 5.0, 30.0, 120.0]
    fetch_batch: PositiveInt = 100

    @model_validator(mode="after")
    def _stream_limits_are_consistent(self) -> Self:
        # These mirror checks the NATS server makes when creating streams and consumers; failing
        # here names the key instead of surfacing a server error after the agents have started.
        problems: list[tuple[KeyPath, str]] = []
        if self.dlq_stream == self.events_stream:
            problems.append((("dlq_stream",), "must differ from jetstream.events_stream"))
        if len(self.backoff_seconds) >= self.max_deliver:
            problems.append(
                (
                    ("backoff_seconds",),
                    f"has {len(self.backoff_seconds)} entries; it must have fewer than "
                    f"jetstream.max_deliver ({self.max_deliver})",
                )
            )
        if self.duplicate_window_seconds > self.max_age_days * 86_400:
            problems.append((("duplicate_window_seconds",), "must not exceed jetstream.max_age_days"))
        _raise_field_problems(problems)
        return self


class PostgresSettings(_Section):
    # A plain str (not SecretStr) because drivers take it as-is; it may embed a password, so
    # never log it.
    # The embedded server's address under `mno run` (MNO_POSTGRES_PORT's default).
    dsn: PostgresDsn = "postgresql://mno@127.0.0.1:54329/mno"
    min_pool: NonNegativeInt = 1
    max_pool: PositiveInt = 10
    migrate_on_start: bool = True
    command_timeout_seconds: PositiveSeconds = 10.0

    @model_validator(mode="after")
    def _pool_bounds_are_ordered(self) -> Self:
        if self.max_pool < self.min_pool:
            _raise_field_problems([(("max_pool",), f"must be at least postgres.min_pool ({self.min_pool})")])
        return self


class ClickHouseSettings(_Section):
    engine: Literal["chdb", "server"] = "chdb"
    # Embedded chDB data directory; None means `<data_dir>/clickhouse` (see Settings.chdb_path).
    chdb_path: OptionalPath = None
    url: OptionalStr = None
    database: Identifier = "mno"

    @model_validator(mode="after")
    def _server_has_url(self) -> Self:
        if self.engine == "server" and self.url is None:
            _raise_field_problems([(("url",), 'required when clickhouse.engine is "server"')])
        return self


class FilesystemStorageSettings(_Section):
    # None means `<data_dir>/blobs` (see Settings.blob_root).
    root: OptionalPath = None


class S3StorageSettings(_Section):
    bucket: OptionalStr = None
    endpoint_url: OptionalHttpUrl = None
    region: Annotated[str, Field(min_length=1)] = "us-east-1"
    # Both unset means the default AWS credential chain (instance profile, IRSA, ...).
    access_key_id: OptionalStr = None
    secret_access_key: OptionalSecret = None
    prefix: str = ""


class StorageSettings(_Section):
    backend: Literal["filesystem", "s3"] = "filesystem"
    filesystem: FilesystemStorageSettings = FilesystemStorageSettings()
    s3: S3StorageSettings = S3StorageSettings()

    @model_validator(mode="after")
    def _s3_is_complete_when_used(self) -> Self:
        if self.backend != "s3":
            return self
        problems: list[tuple[KeyPath, str]] = []
        if self.s3.bucket is None:
            problems.append((("s3", "bucket"), 'required when storage.backend is "s3"'))
        if (self.s3.access_key_id is None) != (self.s3.secret_access_key is None):
            missing = "secret_access_key" if self.s3.secret_access_key is None else "access_key_id"
            present = "access_key_id" if missing == "secret_access_key" else "secret_access_key"
            problems.append((("s3", missing), f"required when storage.s3.{present} is set"))
        _raise_field_problems(problems)
        return self


class GitHubSettings(_Section):
    enabled: bool = False
    app_id: OptionalInt = None
    client_id: OptionalStr = None
    client_secret: OptionalSecret = None
    # PEM contents and/or paths to PEM files; two keys at most, so a new key can be added before
    # the old one is revoked.
    private_keys: SecretList = []
    private_key_files: PathList = []
    # Current and previous secret, so a secret can be rotated without dropping deliveries.
    webhook_secrets: Annotated[SecretList, Field(max_length=2)] = []
    marketplace_webhook_secrets: Annotated[SecretList, Field(max_length=2)] = []
    api_url: HttpUrl = "https://api.github.com"
    web_url: HttpUrl = "https://github.com"
    app_slug: OptionalStr = None

    @model_validator(mode="after")
    def _app_credentials_are_complete(self) -> Self:
        problems: list[tuple[KeyPath, str]] = []
        for index, key in enumerate(self.private_keys):
            if "-----BEGIN" not in key.get_secret_value():
                problems.append(
                    (("private_keys", index), "is not a PEM private key (for a path use private_key_files)")
                )
        if len(self.private_keys) + len(self.private_key_files) > 2:
            problems.append((("private_keys",), "at most 2 keys across private_keys and private_key_files"))
        if self.enabled:
            required = "required when github.enabled is true"
            # Marketplace secrets are not required: a self-hosted GitHub App is not listed on the
            # Marketplace and never receives its events.
            if self.app_id is None:
                problems.append((("app_id",), required))
            if self.client_id is None:
                problems.append((("client_id",), required))
            if self.client_secret is None:
                problems.append((("client_secret",), required))
            if not self.private_keys and not self.private_key_files:
                problems.append((("private_keys",), f"{required} (or set github.private_key_files)"))
            if not self.webhook_secrets:
                problems.append((("webhook_secrets",), required))
        _raise_field_problems(problems)
        return self


class AuthSettings(_Section):
    bootstrap_token: OptionalSecret = None
    session_cookie_name: Token = "mno_session"
    session_ttl_hours: PositiveInt = 12
    # Browsers treat http://localhost as secure, so Secure cookies work locally too; turn off only
    # for a plain-HTTP deployment behind no TLS at all (not recommended).
    session_cookie_secure: bool = True
    oauth_state_ttl_seconds: PositiveInt = 600
    # How long the edge remembers a verified API key, and the plan of a team whose features it
    # checked. A key revoked (or a plan changed) on another replica works there for at most this
    # long; 0 checks the database on every request.
    api_key_cache_seconds: NonNegativeFloat = 5.0
    # How long an invitation to a team can be accepted; re-sending starts the time again.
    invitation_ttl_hours: PositiveInt = 168
    # Keys that encrypt secrets at rest (GitHub tokens), as "<key id>:<base64 of 32 random bytes>".
    # The first encrypts; all decrypt, so a new key is put first and the old one kept until rotated.
    encryption_keys: Annotated[SecretList, Field(max_length=4)] = []

    @model_validator(mode="after")
    def _encryption_keys_are_well_formed(self) -> Self:
        problems: list[tuple[KeyPath, str]] = []
        seen: set[str] = set()
        for index, secret in enumerate(self.encryption_keys):
            key_id, _, encoded = secret.get_secret_value().partition(":")
            if not key_id or not encoded:
                problems.append((("encryption_keys", index), "must read <key id>:<base64 key>"))
                continue
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                problems.append((("encryption_keys", index), "the key must be 32 bytes, base64-encoded"))
            if key_id in seen:
                problems.append((("encryption_keys", index), f"key id {key_id!r} is used twice"))
            seen.add(key_id)
        _raise_field_problems(problems)
        return self

    def keyring(self) -> tuple[dict[str, str], str] | None:
        """(key id → base64 key, primary key id), or None when no key is configured."""
        if not self.encryption_keys:
            return None
        pairs = [secret.get_secret_value().partition(":") for secret in self.encryption_keys]
        return {key_id: encoded for key_id, _, encoded in pairs}, pairs[0][0]


class MonitoringSettings(_Section):
    # Token events are written to ClickHouse in inserts of up to this many events, at least every
    # this many seconds (few large inserts: each costs tens of ms of CPU whatever its size).
    write_max_rows: PositiveInt = 5000
    write_delay_seconds: NonNegativeFloat = 0.1


class IngestSettings(_Section):
    # How long the edge remembers each accepted token-event id (per team): a resend within it is
    # answered as a duplicate. The events stream keeps messages as long (jetstream.max_age_days);
    # a resend after it is answered as accepted and still dropped by the MonitoringAgent's id lookup.
    duplicate_window_days: PositiveInt = 7
    # How often expired ids are deleted (one replica at a time).
    duplicate_prune_interval_seconds: PositiveSeconds = 600.0


class EmailSettings(_Section):
    """The platform's one SMTP relay: alert e-mails and team invitations both go through it."""

    enabled: bool = False
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Port = 25
    username: OptionalStr = None
    password: OptionalSecret = None
    from_address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] = "mno@localhost"
    # At most one: TLS from the first byte (usually port 465), or a STARTTLS upgrade (usually 587).
    use_tls: bool = False
    starttls: bool = False
    timeout_seconds: PositiveSeconds = 30.0

    @model_validator(mode="after")
    def _transport_is_consistent(self) -> Self:
        problems: list[tuple[KeyPath, str]] = []
        if self.starttls and self.use_tls:
            problems.append((("use_tls",), "cannot be combined with email.starttls"))
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            present = "username" if missing == "password" else "password"
            problems.append(((missing,), f"required when email.{present} is set"))
        _raise_field_problems(problems)
        return self


class AlertsSettings(_Section):
    # Alert channels (e-mail recipients, Slack and webhook URLs) are configured per team and
    # stored in the database; only delivery policy is global.
    # Off by default so a team's alert target can't be used to reach internal services.
    allow_private_targets: bool = False
    # Delivery attempts per alert and channel before it is given up.
    max_attempts: PositiveInt = 5


class FeatureFlags(_Section):
    github: bool = False
    artifacts: bool = True
    supply_chain: bool = True
    prompts: bool = True
    dashboard: bool = True
    anomaly_detection: bool = True
    forecasts: bool = True


class PlanEntitlements(_Section):
    monthly_token_events: NonNegativeInt
    artifact_storage_bytes: NonNegativeInt
    prompts: NonNegativeInt
    experiments: NonNegativeInt
    seats: NonNegativeInt
    features: list[FeatureName]


_UNLIMITED = 1_000_000_000_000

DEFAULT_PLANS: dict[str, PlanEntitlements] = {
    "free": PlanEntitlements(
        monthly_token_events=100_000,
        artifact_storage_bytes=1 << 30,
        prompts=50,
        experiments=5,
        seats=3,
        features=["artifacts", "prompts", "dashboard"],
    ),
    # The self-hosted local stack: no limits worth hitting.
    "local": PlanEntitlements(
        monthly_token_events=_UNLIMITED,
        artifact_storage_bytes=_UNLIMITED,
        prompts=_UNLIMITED,
        experiments=_UNLIMITED,
        seats=_UNLIMITED,
        features=[
            "github",
            "artifacts",
            "supply_chain",
            "prompts",
            "dashboard",
            "anomaly_detection",
            "forecasts",
        ],
    ),
}


class AgentSettings(_Section):
    metrics_host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    metrics_port: Port
    replicas_hint: PositiveInt = 1
    max_concurrency: PositiveInt = 64
    drain_timeout_seconds: PositiveSeconds = 20.0


AgentName = Literal["super_agent", "monitoring", "artifact_manager", "supply_chain", "learning"]

DEFAULT_METRICS_PORTS: dict[AgentName, int] = {
    "super_agent": 9100,
    "monitoring": 9101,
    "artifact_manager": 9102,
    "supply_chain": 9103,
    "learning": 9104,
}


class AgentsSettings(_Section):
    super_agent: AgentSettings = AgentSettings(metrics_port=DEFAULT_METRICS_PORTS["super_agent"])
    monitoring: AgentSettings = AgentSettings(metrics_port=DEFAULT_METRICS_PORTS["monitoring"])
    artifact_manager: AgentSettings = AgentSettings(metrics_port=DEFAULT_METRICS_PORTS["artifact_manager"])
    supply_chain: AgentSettings = AgentSettings(metrics_port=DEFAULT_METRICS_PORTS["supply_chain"])
    learning: AgentSettings = AgentSettings(metrics_port=DEFAULT_METRICS_PORTS["learning"])

    @model_validator(mode="before")
    @classmethod
    def _default_metrics_ports(cls, data: object) -> object:
        # Each agent has its own default port, so a partial entry (`monitoring: {replicas_hint: 2}`)
        # must still get the agent's port rather than fail for lack of one.
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        for name, port in DEFAULT_METRICS_PORTS.items():
            entry = filled.get(name)
            if isinstance(entry, dict) and "metrics_port" not in entry:
                filled[name] = {**entry, "metrics_port": port}
        return filled

    def by_name(self, name: AgentName) -> AgentSettings:
        agent: AgentSettings = getattr(self, name)
        return agent


class LoggingSettings(_Section):
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper_case)] = "INFO"
    format: Literal["json", "console"] = "json"


_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class AccountsSettings(_Section):
    # After a Marketplace cancellation an account is deactivated at once; its data is purged
    # (every agent confirming) this many days later.
    purge_retention_days: NonNegativeInt = 30
    # How often the SuperAgent looks for accounts due for a purge, and resends unconfirmed ones.
    lifecycle_check_interval_seconds: PositiveSeconds = 60.0
    # The plan of an account with no Marketplace subscription (e.g. a self-hosted install).
    default_plan: Token = "free"
    # Marketplace plan id (or plan name) -> a key of `plans`.
    marketplace_plans: dict[str, Token] = {}
    # How often subscriptions are compared with the Marketplace API and drift repaired
    # (GitHub cannot redeliver a missed marketplace_purchase). Needs github.enabled.
    marketplace_reconcile_interval_seconds: PositiveSeconds = 21600.0
    # Use the Marketplace API's stubbed endpoints (for a listing that is not yet published).
    marketplace_stubbed: bool = False


class ArchiveLimitsSettings(_Section):
    """Bounds on one uploaded archive (shared/archives.py explains the defaults)."""

    max_members: PositiveInt = 50_000
    max_total_uncompressed_bytes: PositiveInt = 1 << 30
    max_ratio: Annotated[float, Field(gt=1)] = 100.0
    max_member_bytes: PositiveInt = 512 << 20


class UpstreamSettings(_Section):
    """A public index behind the teams' own (services/registry/upstream.py): names a team has not
    published are served from it, fetched on demand and kept in the blob store."""

    kind: Literal["pypi", "npm"]
    # A PyPI-compatible simple index (`https://pypi.org/simple/`) or an npm registry's root.
    url: HttpUrl
    # The teams (ids) whose index it stands behind; "*" for every team.
    teams: Annotated[list[str], Field(max_length=10_000)] = []
    # How long a project page fetched from it is reused before it is asked again.
    cache_ttl_seconds: PositiveSeconds = 300.0
    timeout_seconds: PositiveSeconds = 30.0


class RegistrySettings(_Section):
    """The artifact registry (`/registry/<team>/...` on the edge; bytes in the `storage` blob store)."""

    # The largest file one upload may carry (PyPI's default is 100 MB); refused with 413 as it streams.
    max_upload_bytes: PositiveInt = 104_857_600
    archive_limits: ArchiveLimitsSettings = ArchiveLimitsSettings()
    # Upstream indexes by name; a team is behind at most one of each kind (the first listed).
    upstreams: dict[str, UpstreamSettings] = {}
    # A blob no row refers to is deleted once it is at least this old (the orphan-blob sweep); the
    # grace covers an upload in flight: bytes stored by the edge, rows not yet committed.
    orphan_blob_grace_seconds: PositiveInt = 86_400
    # How long the edge keeps a registry read at most (a simple page, a packument, a file's location;
    # agents/super_agent/routes/registry_*.py). The ArtifactManagerAgent's notice drops a team's reads
    # when a commit changes them (a publish, a yank, a download block): this bounds only an answer
    # whose notice was lost, e.g. a block announced while the edge's bus connection was away.
    edge_cache_ttl_seconds: PositiveSeconds = 30.0
    # PEP 658 metadata is offered on the simple pages for wheels of at least this size. The
    # metadata lets an installer resolve without downloading a wheel; for a small wheel, fetching it
    # costs the round trip the wheel itself would, and an install then fetches the wheel anyway: one
    # request more per package. The `.metadata` file is served for every wheel whatever this says.
    metadata_min_wheel_bytes: NonNegativeInt = 65_536


class SupplyChainSettings(_Section):
    """SBOMs, scanning and attestations (the SupplyChainAgent)."""

    # The Ed25519 key that signs attestations: PKCS#8 PEM text, or the path of a PEM file. None: the
    # agent uses (and on first start creates) <data_dir>/supply-chain-signing-key.pem, which suits
    # one machine; set it when the agent runs as several replicas, so they all sign with one key.
    signing_key: OptionalSecret = None
    # Keys rotated out (PEM text or paths; private or public): what they signed still verifies.
    previous_signing_keys: Annotated[SecretList, Field(max_length=8)] = []
    # The largest SBOM or lockfile one scan reads; the largest advisory archive one import reads.
    max_document_bytes: PositiveInt = 52_428_800
    max_advisory_archive_bytes: PositiveInt = 1_073_741_824
    # How often every team's download blocks are evaluated again and the differences announced: it
    # repairs an announcement that failed after its cause committed, and is how a team whose plan lost
    # supply_chain has its blocks released (plan changes are announced to no agent), at most this late.
    block_sync_interval_seconds: PositiveSeconds = 300.0


class ProxySettings(_Section):
    """Proxy mode (`/proxy/<provider>/...` at the edge): where each provider's calls are forwarded."""

    enabled: bool = True
    # Base URLs the proxied path is appended to (`/proxy/openai/v1/chat/completions` goes to
    # `<openai_upstream>/chat/completions`): the providers' own APIs, or a gateway in between.
    openai_upstream: HttpUrl = "https://api.openai.com/v1"
    anthropic_upstream: HttpUrl = "https://api.anthropic.com/v1"
    gemini_upstream: HttpUrl = "https://generativelanguage.googleapis.com/v1beta"
    connect_timeout_seconds: PositiveSeconds = 10.0
    # Longest silence allowed between two bytes of an answer (a long generation streams for minutes).
    read_timeout_seconds: PositiveSeconds = 600.0
    # Request bodies carry images and documents as base64.
    max_body_bytes: PositiveInt = 33_554_432


class EvaluationSettings(_Section):
    """Evaluation runs of prompt versions (the LearningAgent): the OpenAI-compatible chat-completions
    API their model calls go to (`<base_url>/chat/completions`: a provider, a gateway, a local
    server). No base_url: evaluation runs are refused (503) and nothing is called."""

    base_url: OptionalHttpUrl = None
    api_key: OptionalSecret = None
    # The provider the calls are priced as (the price source's name: openai, azure, groq, ...).
    provider: Token = "openai"
    # One call's limit, from connecting to the last byte of its answer.
    timeout_seconds: PositiveSeconds = 60.0
    # Calls one run has in flight at once.
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4


class ExperimentSettings(_Section):
    """A/B experiments of prompt versions (the LearningAgent)."""

    # How often every running experiment's guardrails are checked: a breached variant is stopped
    # then (and whenever its results are read), without anyone looking at the experiment.
    guardrail_check_interval_seconds: PositiveSeconds = 60.0


class Settings(BaseSettings):
    """The whole configuration. Build it with `shared.config.load_settings`, not directly."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    environment: Literal["local", "test", "production"] = "local"
    data_dir: Path = Path(".mno")
    http: HttpSettings = HttpSettings()
    nats: NatsSettings = NatsSettings()
    jetstream: JetStreamSettings = JetStreamSettings()
    postgres: PostgresSettings = PostgresSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    storage: StorageSettings = StorageSettings()
    github: GitHubSettings = GitHubSettings()
    auth: AuthSettings = AuthSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    ingest: IngestSettings = IngestSettings()
    email: EmailSettings = EmailSettings()
    alerts: AlertsSettings = AlertsSettings()
    proxy: ProxySettings = ProxySettings()
    evaluations: EvaluationSettings = EvaluationSettings()
    experiments: ExperimentSettings = ExperimentSettings()
    registry: RegistrySettings = RegistrySettings()
    supply_chain: SupplyChainSettings = SupplyChainSettings()
    features: FeatureFlags = FeatureFlags()
    plans: Annotated[dict[Token, PlanEntitlements], Field(min_length=1)] = DEFAULT_PLANS
    accounts: AccountsSettings = AccountsSettings()
    agents: AgentsSettings = AgentsSettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file is the single source of truth: the environment reaches settings only
        # through the `${...}` references written in it. Letting BaseSettings also read env vars
        # (`ENVIRONMENT`, `HTTP`, a stray `.env`) would change behaviour invisibly to anyone
        # reading the file, and differently on each machine.
        return (init_settings,)

    @property
    def chdb_path(self) -> Path:
        """Where embedded chDB keeps its data."""
        return self.clickhouse.chdb_path or self.data_dir / "clickhouse"

    @property
    def blob_root(self) -> Path:
        """Root directory of the filesystem blob store."""
        return self.storage.filesystem.root or self.data_dir / "blobs"

    @model_validator(mode="after")
    def _sections_are_consistent(self) -> Self:
        problems: list[tuple[KeyPath, str]] = []
        if self.features.github and not self.github.enabled:
            problems.append((("features", "github"), "requires github.enabled to be true"))
        if self.accounts.default_plan not in self.plans:
            problems.append(
                (("accounts", "default_plan"), f"{self.accounts.default_plan!r} is not a key of plans")
            )
        for plan_ref, plan_key in self.accounts.marketplace_plans.items():
            if plan_key not in self.plans:
                problems.append(
                    (("accounts", "marketplace_plans", plan_ref), f"{plan_key!r} is not a key of plans")
                )
        if self.github.enabled and not self.auth.encryption_keys:
            problems.append(
                (
                    ("auth", "encryption_keys"),
                    "required when github.enabled is true (tokens are stored encrypted); "
                    "`mno run` makes a local one under the data directory",
                )
            )
        if self.environment == "local":
            problems.extend(self._port_clashes())
        _raise_field_problems(problems)
        return self

    def _port_clashes(self) -> list[tuple[KeyPath, str]]:
        # Locally every process shares one host, so two listeners on one port would fail at bind
        # time with a less helpful error. Elsewhere each agent runs in its own pod or VM and may
        # well reuse a port.
        listeners: list[tuple[KeyPath, str, int]] = [(("http", "port"), self.http.host, self.http.port)]
        for name in DEFAULT_METRICS_PORTS:
            agent = self.agents.by_name(name)
            listeners.append((("agents", name, "metrics_port"), agent.metrics_host, agent.metrics_port))
        clashes: list[tuple[KeyPath, str]] = []
        for index, (path, host, port) in enumerate(listeners):
            for earlier_path, earlier_host, earlier_port in listeners[:index]:
                same_host = host == earlier_host or {host, earlier_host} & _WILDCARD_HOSTS
                if port == earlier_port and same_host:
                    clashes.append((path, f"port {port} is already used by {format_key_path(earlier_path)}"))
                    break
        return clashes
