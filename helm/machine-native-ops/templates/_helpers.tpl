{{/* Names -------------------------------------------------------------------------------------- */}}

{{- define "mno.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mno.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of an agent's resources: (list $ "super_agent") -> <fullname>-super-agent */}}
{{- define "mno.agentFullname" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "mno.fullname" $root | trunc 45 | trimSuffix "-") (index . 1 | replace "_" "-") -}}
{{- end -}}

{{- define "mno.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mno.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mno.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mno.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Labels: (dict "root" $ "component" "super_agent") -------------------------------------------- */}}

{{- define "mno.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mno.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mno.labels" -}}
{{ include "mno.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: machine-native-ops
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "mno.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The agents, in a fixed order. */}}
{{- define "mno.agentNames" -}}
["super_agent", "monitoring", "artifact_manager", "supply_chain", "learning"]
{{- end -}}

{{/* Which volume an agent owns alone, if any: "chdb" (the monitoring agent's embedded ClickHouse)
     or "". (list $ "monitoring") */}}
{{- define "mno.agentHasVolume" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if and (eq $name "monitoring") (eq $root.Values.clickhouse.engine "chdb") -}}
chdb
{{- end -}}
{{- end -}}

{{/* The agents that read and write the blob store: the edge (uploads, downloads), the artifact manager
     and the supply chain agent. With storage.backend filesystem they share one ReadWriteMany claim. */}}
{{- define "mno.blobAgents" -}}
["super_agent", "artifact_manager", "supply_chain"]
{{- end -}}

{{/* "true" when the agent mounts the shared filesystem blob volume. (list $ "super_agent") */}}
{{- define "mno.sharesBlobs" -}}
{{- $root := index . 0 -}}
{{- if and (eq $root.Values.storage.backend "filesystem") (has (index . 1) (include "mno.blobAgents" $root | fromJsonArray)) -}}
true
{{- end -}}
{{- end -}}

{{/* The claim of the shared blob volume. */}}
{{- define "mno.blobClaim" -}}
{{- .Values.storage.filesystem.persistence.existingClaim | default (printf "%s-blobs" (include "mno.fullname" .)) -}}
{{- end -}}

{{/* The persistence values of the volume an agent owns, as YAML: (list $ "monitoring") */}}
{{- define "mno.agentPersistence" -}}
{{- $root := index . 0 -}}
{{- $kind := include "mno.agentHasVolume" . -}}
{{- if eq $kind "chdb" -}}
{{- toYaml $root.Values.clickhouse.chdb.persistence -}}
{{- end -}}
{{- end -}}

{{/* Security --------------------------------------------------------------------------------- */}}

{{- define "mno.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mno.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The environment every container of the image gets: the config file and the secrets. */}}
{{- define "mno.envFrom" -}}
- secretRef:
    name: {{ .secretName }}
{{- with .root.Values.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "mno.env" -}}
- name: MNO_CONFIG
  value: /etc/mno/machine-native-ops.yaml
{{- range .Values.extraEnv }}
- name: {{ .name }}
  value: {{ .value | quote }}
{{- end }}
{{- end -}}

{{/* Checks the schema cannot express (or that must hold even with --skip-schema-validation). */}}
{{- define "mno.validate" -}}
{{- $v := .Values -}}
{{- if eq $v.clickhouse.engine "chdb" -}}
{{- if or (gt (int $v.agents.monitoring.replicas) 1) $v.agents.monitoring.autoscaling.enabled -}}
{{- fail "clickhouse.engine is chdb: the embedded engine belongs to one process, so agents.monitoring.replicas must be 1 and agents.monitoring.autoscaling.enabled false (use clickhouse.engine: server to scale the monitoring agent)" -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.clickhouse.engine "server") (not $v.clickhouse.url) (not $v.existingSecret) -}}
{{- fail "clickhouse.engine is server: set clickhouse.url (or MNO_CLICKHOUSE_URL in existingSecret)" -}}
{{- end -}}
{{- if and (eq $v.storage.backend "s3") (not $v.storage.s3.bucket) -}}
{{- fail "storage.backend is s3: set storage.s3.bucket" -}}
{{- end -}}
{{- if and (not $v.postgres.dsn) (not $v.existingSecret) -}}
{{- fail "set postgres.dsn (or MNO_POSTGRES_DSN in existingSecret)" -}}
{{- end -}}
{{- if and $v.github.enabled (not $v.auth.encryptionKey) (not $v.existingSecret) -}}
{{- fail "github.enabled: set auth.encryptionKey (or MNO_ENCRYPTION_KEY in existingSecret); GitHub tokens are stored encrypted" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- fail "ingress.enabled: list at least one entry in ingress.hosts" -}}
{{- end -}}
{{- $supplyChain := $v.agents.supply_chain -}}
{{- if and (or (gt (int $supplyChain.replicas) 1) $supplyChain.autoscaling.enabled) (not $v.supplyChain.signingKey) (not $v.existingSecret) -}}
{{- fail "agents.supply_chain runs several replicas: set supplyChain.signingKey (or MNO_SUPPLY_CHAIN_SIGNING_KEY in existingSecret) to an Ed25519 PKCS#8 PEM key (openssl genpkey -algorithm ed25519); without it each pod generates a signing key of its own, and attestations signed by one pod do not verify on another" -}}
{{- end -}}
{{- end -}}

{{/* The port of a URL, or a default: (list "nats://nats:4222" 4222) */}}
{{- define "mno.urlPort" -}}
{{- $url := index . 0 -}}
{{- $default := index . 1 -}}
{{- if $url -}}
{{- $host := (urlParse $url).host -}}
{{- if regexMatch ":[0-9]+$" $host -}}
{{- regexFind "[0-9]+$" $host -}}
{{- else -}}
{{- $default -}}
{{- end -}}
{{- else -}}
{{- $default -}}
{{- end -}}
{{- end -}}

{{/* TCP ports the release's pods connect to, as a JSON list: NATS, PostgreSQL, ClickHouse, S3,
     HTTPS for GitHub, SMTP, and networkPolicy.extraEgressPorts (teams' alert webhooks). */}}
{{- define "mno.egressPorts" -}}
{{- $v := .Values -}}
{{- $ports := list -}}
{{- range $v.nats.servers -}}
{{- $scheme := (urlParse .).scheme -}}
{{- $ports = append $ports (include "mno.urlPort" (list . (ternary 443 (ternary 80 4222 (eq $scheme "ws")) (eq $scheme "wss")))) -}}
{{- end -}}
{{- $ports = append $ports (include "mno.urlPort" (list $v.postgres.dsn 5432)) -}}
{{- if eq $v.clickhouse.engine "server" -}}
{{- $secure := hasPrefix "clickhouses:" (default "" $v.clickhouse.url) -}}
{{- $ports = append $ports (include "mno.urlPort" (list $v.clickhouse.url (ternary 9440 9000 $secure))) -}}
{{- end -}}
{{- if eq $v.storage.backend "s3" -}}
{{- $endpoint := $v.storage.s3.endpointUrl -}}
{{- $ports = append $ports (include "mno.urlPort" (list $endpoint (ternary 80 443 (hasPrefix "http:" (default "" $endpoint))))) -}}
{{- end -}}
{{- if $v.github.enabled -}}
{{- $ports = append $ports "443" -}}
{{- end -}}
{{- if $v.email.enabled -}}
{{- $ports = append $ports (toString $v.email.port) -}}
{{- end -}}
{{- range $v.networkPolicy.extraEgressPorts -}}
{{- $ports = append $ports (toString .) -}}
{{- end -}}
{{- $numbers := list -}}
{{- range ($ports | uniq | sortAlpha) -}}
{{- $numbers = append $numbers (atoi .) -}}
{{- end -}}
{{- $numbers | toJson -}}
{{- end -}}
