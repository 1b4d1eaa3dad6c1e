{{/*
The configuration file (config/machine-native-ops.yaml's shape), rendered from the values.
Secrets are not written here: they stay `${ENV}` references, filled from the chart's Secret (or
existingSecret) through the environment. Keys not written take the application's defaults.
*/}}
{{- define "mno.configYaml" -}}
{{- $v := .Values -}}
# Rendered by the {{ .Chart.Name }} chart from its values; `${...}` come from the Secret.
environment: {{ $v.environment | toJson }}
data_dir: /var/lib/mno
http:
  host: 0.0.0.0
  port: {{ $v.http.port | int }}
  public_url: {{ $v.http.publicUrl | toJson }}
  max_body_bytes: {{ $v.http.maxBodyBytes | int64 }}
  request_timeout_seconds: {{ $v.http.requestTimeoutSeconds | toJson }}
  trusted_proxies: {{ $v.http.trustedProxies | toJson }}
nats:
  servers: {{ $v.nats.servers | toJson }}
  user: "${MNO_NATS_USER:-}"
  password: "${MNO_NATS_PASSWORD:-}"
  token: "${MNO_NATS_TOKEN:-}"
  request_timeout_seconds: {{ $v.nats.requestTimeoutSeconds | toJson }}
  connect_timeout_seconds: {{ $v.nats.connectTimeoutSeconds | toJson }}
jetstream:
  replicas: {{ $v.jetstream.replicas | int }}
  max_age_days: {{ $v.jetstream.maxAgeDays | int }}
  dlq_max_age_days: {{ $v.jetstream.dlqMaxAgeDays | int }}
  ack_wait_seconds: {{ $v.jetstream.ackWaitSeconds | toJson }}
  max_deliver: {{ $v.jetstream.maxDeliver | int }}
  backoff_seconds: {{ $v.jetstream.backoffSeconds | toJson }}
  fetch_batch: {{ $v.jetstream.fetchBatch | int }}
postgres:
  dsn: "${MNO_POSTGRES_DSN}"
  min_pool: {{ $v.postgres.minPool | int }}
  max_pool: {{ $v.postgres.maxPool | int }}
  migrate_on_start: {{ $v.postgres.migrateOnStart }}
  command_timeout_seconds: {{ $v.postgres.commandTimeoutSeconds | toJson }}
clickhouse:
  engine: {{ $v.clickhouse.engine | toJson }}
  url: "${MNO_CLICKHOUSE_URL:-}"
  database: {{ $v.clickhouse.database | toJson }}
storage:
  backend: {{ $v.storage.backend | toJson }}
  s3:
    bucket: {{ $v.storage.s3.bucket | toJson }}
    endpoint_url: {{ $v.storage.s3.endpointUrl | toJson }}
    region: {{ $v.storage.s3.region | toJson }}
    access_key_id: "${MNO_S3_ACCESS_KEY_ID:-}"
    secret_access_key: "${MNO_S3_SECRET_ACCESS_KEY:-}"
    prefix: {{ $v.storage.s3.prefix | toJson }}
github:
  enabled: {{ $v.github.enabled }}
  app_id: {{ $v.github.appId | toJson }}
  client_id: {{ $v.github.clientId | toJson }}
  client_secret: "${GITHUB_CLIENT_SECRET:-}"
  private_keys:
    - "${GITHUB_PRIVATE_KEY:-}"
    - "${GITHUB_PRIVATE_KEY_PREVIOUS:-}"
  webhook_secrets:
    - "${GITHUB_WEBHOOK_SECRET:-}"
    - "${GITHUB_WEBHOOK_SECRET_PREVIOUS:-}"
  marketplace_webhook_secrets:
    - "${GITHUB_MARKETPLACE_WEBHOOK_SECRET:-}"
    - "${GITHUB_MARKETPLACE_WEBHOOK_SECRET_PREVIOUS:-}"
  api_url: {{ $v.github.apiUrl | toJson }}
  web_url: {{ $v.github.webUrl | toJson }}
  app_slug: {{ $v.github.appSlug | toJson }}
auth:
  bootstrap_token: "${MNO_BOOTSTRAP_TOKEN:-}"
  session_ttl_hours: {{ $v.auth.sessionTtlHours | int }}
  session_cookie_secure: {{ $v.auth.sessionCookieSecure }}
  oauth_state_ttl_seconds: {{ $v.auth.oauthStateTtlSeconds | int }}
  api_key_cache_seconds: {{ $v.auth.apiKeyCacheSeconds }}
  invitation_ttl_hours: {{ $v.auth.invitationTtlHours | int }}
  encryption_keys:
    - "${MNO_ENCRYPTION_KEY:-}"
    - "${MNO_ENCRYPTION_KEY_PREVIOUS:-}"
accounts:
  purge_retention_days: {{ $v.accounts.purgeRetentionDays | int }}
  lifecycle_check_interval_seconds: {{ $v.accounts.lifecycleCheckIntervalSeconds }}
  default_plan: {{ $v.accounts.defaultPlan | toJson }}
  marketplace_plans: {{ $v.accounts.marketplacePlans | toJson }}
  marketplace_reconcile_interval_seconds: {{ $v.accounts.marketplaceReconcileIntervalSeconds }}
  marketplace_stubbed: {{ $v.accounts.marketplaceStubbed }}
monitoring:
  write_max_rows: {{ $v.monitoring.writeMaxRows | int }}
  write_delay_seconds: {{ $v.monitoring.writeDelaySeconds }}
email:
  enabled: {{ $v.email.enabled }}
  host: {{ $v.email.host | toJson }}
  port: {{ $v.email.port | int }}
  username: {{ $v.email.username | toJson }}
  password: "${MNO_SMTP_PASSWORD:-}"
  from_address: {{ $v.email.fromAddress | toJson }}
  use_tls: {{ $v.email.useTls }}
  starttls: {{ $v.email.starttls }}
  timeout_seconds: {{ $v.email.timeoutSeconds }}
alerts:
  allow_private_targets: {{ $v.alerts.allowPrivateTargets }}
  max_attempts: {{ $v.alerts.maxAttempts | int }}
ingest:
  duplicate_window_days: {{ $v.ingest.duplicateWindowDays | int }}
  duplicate_prune_interval_seconds: {{ $v.ingest.duplicatePruneIntervalSeconds | int }}
proxy:
  enabled: {{ $v.proxy.enabled }}
  openai_upstream: {{ $v.proxy.openaiUpstream | quote }}
  anthropic_upstream: {{ $v.proxy.anthropicUpstream | quote }}
  gemini_upstream: {{ $v.proxy.geminiUpstream | quote }}
  connect_timeout_seconds: {{ $v.proxy.connectTimeoutSeconds | toJson }}
  read_timeout_seconds: {{ $v.proxy.readTimeoutSeconds | toJson }}
  max_body_bytes: {{ $v.proxy.maxBodyBytes | int }}
registry:
  max_upload_bytes: {{ $v.registry.maxUploadBytes | int }}
  archive_limits:
    max_members: {{ $v.registry.archiveLimits.maxMembers | int }}
    max_total_uncompressed_bytes: {{ $v.registry.archiveLimits.maxTotalUncompressedBytes | int }}
    max_ratio: {{ $v.registry.archiveLimits.maxRatio | toJson }}
    max_member_bytes: {{ $v.registry.archiveLimits.maxMemberBytes | int }}
  orphan_blob_grace_seconds: {{ $v.registry.orphanBlobGraceSeconds | int }}
  edge_cache_ttl_seconds: {{ $v.registry.edgeCacheTtlSeconds | toJson }}
  metadata_min_wheel_bytes: {{ $v.registry.metadataMinWheelBytes | int }}
  upstreams:{{ if not $v.registry.upstreams }} {}{{ end }}
{{- range $name, $u := $v.registry.upstreams }}
    {{ $name | quote }}:
      kind: {{ $u.kind | quote }}
      url: {{ $u.url | quote }}
      teams: {{ $u.teams | default list | toJson }}
      cache_ttl_seconds: {{ $u.cacheTtlSeconds | default 300 | toJson }}
      timeout_seconds: {{ $u.timeoutSeconds | default 30 | toJson }}
{{- end }}
evaluations:
  base_url: {{ $v.evaluations.baseUrl | toJson }}
  api_key: "${MNO_EVALUATION_API_KEY:-}"
  provider: {{ $v.evaluations.provider | toJson }}
  timeout_seconds: {{ $v.evaluations.timeoutSeconds | toJson }}
  concurrency: {{ $v.evaluations.concurrency | int }}
experiments:
  guardrail_check_interval_seconds: {{ $v.experiments.guardrailCheckIntervalSeconds | toJson }}
supply_chain:
  signing_key: "${MNO_SUPPLY_CHAIN_SIGNING_KEY:-}"
  previous_signing_keys:
    - "${MNO_SUPPLY_CHAIN_SIGNING_KEY_PREVIOUS:-}"
  max_document_bytes: {{ $v.supplyChain.maxDocumentBytes | int }}
  max_advisory_archive_bytes: {{ $v.supplyChain.maxAdvisoryArchiveBytes | int }}
  block_sync_interval_seconds: {{ $v.supplyChain.blockSyncIntervalSeconds | toJson }}
features: {{ $v.features | toJson }}
agents:
{{- range $name := include "mno.agentNames" . | fromJsonArray }}
{{- $agent := index $v.agents $name }}
  {{ $name }}:
    metrics_host: 0.0.0.0
    metrics_port: {{ $agent.metricsPort | int }}
    replicas_hint: {{ $agent.replicas | int }}
    max_concurrency: {{ $agent.maxConcurrency | int }}
    drain_timeout_seconds: {{ $agent.drainTimeoutSeconds | toJson }}
{{- end }}
logging:
  level: {{ $v.logging.level | toJson }}
  format: {{ $v.logging.format | toJson }}
{{- end -}}

{{/* The Secret's data: one environment variable per non-empty secret value, base64-encoded. */}}
{{- define "mno.secretData" -}}
{{- $v := .Values -}}
{{- $env := dict
  "MNO_POSTGRES_DSN" $v.postgres.dsn
  "MNO_CLICKHOUSE_URL" $v.clickhouse.url
  "MNO_NATS_USER" $v.nats.user
  "MNO_NATS_PASSWORD" $v.nats.password
  "MNO_NATS_TOKEN" $v.nats.token
  "MNO_S3_ACCESS_KEY_ID" $v.storage.s3.accessKeyId
  "MNO_S3_SECRET_ACCESS_KEY" $v.storage.s3.secretAccessKey
  "MNO_BOOTSTRAP_TOKEN" $v.auth.bootstrapToken
  "MNO_ENCRYPTION_KEY" $v.auth.encryptionKey
  "MNO_ENCRYPTION_KEY_PREVIOUS" $v.auth.encryptionKeyPrevious
  "GITHUB_CLIENT_SECRET" $v.github.clientSecret
  "GITHUB_PRIVATE_KEY" $v.github.privateKey
  "GITHUB_PRIVATE_KEY_PREVIOUS" $v.github.privateKeyPrevious
  "GITHUB_WEBHOOK_SECRET" $v.github.webhookSecret
  "GITHUB_WEBHOOK_SECRET_PREVIOUS" $v.github.webhookSecretPrevious
  "GITHUB_MARKETPLACE_WEBHOOK_SECRET" $v.github.marketplaceWebhookSecret
  "GITHUB_MARKETPLACE_WEBHOOK_SECRET_PREVIOUS" $v.github.marketplaceWebhookSecretPrevious
  "MNO_SMTP_PASSWORD" $v.email.password
  "MNO_EVALUATION_API_KEY" $v.evaluations.apiKey
  "MNO_SUPPLY_CHAIN_SIGNING_KEY" $v.supplyChain.signingKey
  "MNO_SUPPLY_CHAIN_SIGNING_KEY_PREVIOUS" $v.supplyChain.signingKeyPrevious
-}}
{{- range $key := keys $env | sortAlpha }}
{{- $value := index $env $key }}
{{- if $value }}
{{ $key }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}
