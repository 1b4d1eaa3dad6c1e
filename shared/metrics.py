"""The Prometheus metrics every agent exports. One asyncio process per pod, so the default registry
and no multiprocess mode (see the reference notes)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buckets from 0.5 ms to 10 s: in-mesh calls are sub-millisecond to tens of milliseconds, and the
# slow tail is what the histogram must show.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

AGENT_INFO = Gauge(
    "mno_agent_info", "Constant 1, labelled with the agent's identity.", ["agent", "instance", "version"]
)
AGENT_READY = Gauge("mno_agent_ready", "1 while the agent is ready to serve.", ["agent"])
BUS_CONNECTED = Gauge("mno_bus_connected", "1 while the NATS connection is up.", ["agent"])

RPC_HANDLER_SECONDS = Histogram(
    "mno_rpc_handler_duration_seconds",
    "Time to handle one request/reply message, by endpoint and outcome.",
    ["agent", "endpoint", "outcome"],
    buckets=LATENCY_BUCKETS,
)
RPC_IN_FLIGHT = Gauge("mno_rpc_in_flight", "Requests being handled now.", ["agent"])
RPC_EXPIRED = Counter(
    "mno_rpc_expired_total",
    "Requests dropped unhandled: they waited for a free slot longer than their requester waits.",
    ["agent", "endpoint"],
)

RPC_CLIENT_SECONDS = Histogram(
    "mno_rpc_client_duration_seconds",
    "Round trip of requests this process sent over the bus, by subject and outcome.",
    ["subject", "outcome"],
    buckets=LATENCY_BUCKETS,
)

EVENT_HANDLER_SECONDS = Histogram(
    "mno_event_handler_duration_seconds",
    "Time to handle one durable event, by event type and outcome.",
    ["agent", "event", "outcome"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_TOTAL = Counter(
    "mno_events_total",
    "Durable events seen by consumers: processed, duplicate, retried, rejected, dead_lettered.",
    ["agent", "event", "outcome"],
)
EVENTS_PUBLISHED_TOTAL = Counter("mno_events_published_total", "Durable events published.", ["event"])
OUTBOX_PENDING = Gauge(
    "mno_outbox_pending", "Events written to the agent's outbox and not yet published.", ["agent"]
)
OUTBOX_OLDEST_PENDING_SECONDS = Gauge(
    "mno_outbox_oldest_pending_seconds", "Age of the oldest event in the outbox not yet published.", ["agent"]
)
OUTBOX_SENT_TOTAL = Counter(
    "mno_outbox_sent_total",
    "Outbox events published: at once after the commit (path=commit) or by the relay job (path=relay).",
    ["agent", "path"],
)
OUTBOX_SEND_ERRORS_TOTAL = Counter(
    "mno_outbox_send_errors_total",
    "Outbox events JetStream did not take (left for the relay).",
    ["agent", "path"],
)

HTTP_REQUEST_SECONDS = Histogram(
    "mno_http_request_duration_seconds",
    "HTTP requests at the edge, by route template, method and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

JOB_SECONDS = Histogram(
    "mno_job_duration_seconds",
    "Run time of periodic jobs.",
    ["agent", "job", "outcome"],
    buckets=LATENCY_BUCKETS,
)
JOB_RUNS_TOTAL = Counter("mno_job_runs_total", "Periodic job runs.", ["agent", "job", "outcome"])

EVENT_LOOP_LAG_SECONDS = Histogram(
    "mno_event_loop_lag_seconds",
    "How late the event loop ran a timer (sampled every 50 ms): time a blocked loop held every "
    "request, reply and write of the process.",
    ["agent"],
    buckets=LATENCY_BUCKETS,
)

GC_PAUSE_SECONDS = Histogram(
    "mno_gc_pause_seconds",
    "How long each garbage collection held the interpreter, by generation (2: a full collection).",
    ["agent", "generation"],
    buckets=LATENCY_BUCKETS,
)

JETSTREAM_PENDING = Gauge(
    "mno_jetstream_consumer_pending_messages",
    "Events in the stream not yet delivered to this consumer (its lag).",
    ["agent", "consumer"],
)
JETSTREAM_ACK_PENDING = Gauge(
    "mno_jetstream_consumer_ack_pending_messages",
    "Events delivered to this consumer and not yet acknowledged.",
    ["agent", "consumer"],
)
JETSTREAM_STREAM_MESSAGES = Gauge(
    "mno_jetstream_stream_messages", "Messages held by a stream (the DLQ's is its depth).", ["stream"]
)

MARKETPLACE_UNMAPPED_PLAN_EVENTS_TOTAL = Counter(
    "mno_marketplace_unmapped_plan_events_total",
    "Marketplace events (and reconciliation repairs) that left an account on a paid plan no configured "
    "mapping names, so on the default plan.",
    ["plan_id"],
)
MARKETPLACE_UNMAPPED_PLANS = Gauge(
    "mno_marketplace_unmapped_plans",
    "Paid Marketplace plans on subscriptions that no configured mapping names (at the last re-mapping).",
)

WEBHOOK_REFUSED_TOTAL = Counter(
    "mno_webhook_refused_total",
    "Webhook requests not applied although answered: replay (a signed body already recorded under "
    "another GUID) or unverified_budget (503: the budget of unverified bytes in flight was full).",
    ["reason"],
)

TOKEN_EVENTS_INGESTED_TOTAL = Counter(
    "mno_token_events_ingested_total", "Token events taken at the edge, by outcome.", ["outcome"]
)
OTLP_SPANS_DROPPED_TOTAL = Counter(
    "mno_otlp_spans_dropped_total",
    "OTLP spans not turned into token events, by reason (services.ingest.otlp_genai.DropReason) and "
    "emitting library (services.ingest.otlp_libraries.Library).",
    ["reason", "library"],
)
OTLP_SPAN_DROPS_UNRECORDED_TOTAL = Counter(
    "mno_otlp_span_drops_unrecorded_total",
    "Dropped OTLP spans whose per-team record (super_agent.otlp_span_drops) could not be written.",
)
TOKEN_EVENTS_STORED_TOTAL = Counter(
    "mno_token_events_stored_total",
    "Token events written to ClickHouse, and copies dropped as already stored.",
    ["outcome"],
)
TOKEN_EVENTS_PRICED_TOTAL = Counter(
    "mno_token_events_priced_total", "Token events priced, by result (priced, unknown_model).", ["result"]
)
EDGE_CACHE_TOTAL = Counter(
    "mno_edge_cache_total",
    "Reads the edge answered from its per-team cache (hit) or asked the owner agent for (miss).",
    ["cache", "outcome"],
)
EDGE_BLOB_DIGEST_MISMATCHES_TOTAL = Counter(
    "mno_edge_blob_digest_mismatches_total",
    "Registry downloads whose bytes in the blob store were not the published SHA-256 (a blob altered "
    "or corrupted in the store), by path: memory (a small file, refused before any byte was sent) "
    "or stream (a large one, cut off short of its length).",
    ["path"],
)
EDGE_DOWNLOAD_BATCHES_TOTAL = Counter(
    "mno_edge_download_batches_total",
    "Batches of downloads the edge answered from its cache, sent to JetStream for the registry to "
    "count, by outcome (sent; failed: kept and sent again, unchanged).",
    ["outcome"],
)
EDGE_DOWNLOAD_COUNTS_UNSENT = Gauge(
    "mno_edge_download_counts_unsent",
    "Downloads the edge answered from its cache whose counts JetStream has not acknowledged yet "
    "(what a crash of the edge would lose).",
)
EDGE_BUDGET_TEAMS = Gauge(
    "mno_edge_budget_teams",
    "Teams in this edge's replicated set of teams with budgets (whose ingest asks budget admission).",
)
CLICKHOUSE_CALL_SECONDS = Histogram(
    "mno_clickhouse_call_seconds",
    "chdb calls by kind (read, write) and phase: queued for a worker thread, then running.",
    ["kind", "phase"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
TOKEN_EVENT_PRICES_REUSED_TOTAL = Counter(
    "mno_token_event_prices_reused_total",
    "Token events stored with the price their budget admission worked out in this process (priced once).",
)
TOKEN_EVENT_WRITE_SECONDS = Histogram(
    "mno_token_event_write_seconds",
    "One ClickHouse write of token events (dedup lookup + insert).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
_PIPELINE_BUCKETS = (
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.04,
    0.05,
    0.06,
    0.075,
    0.1,
    0.125,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
TOKEN_EVENT_PRICED_SECONDS = Histogram(
    "mno_token_event_priced_seconds",
    "From acceptance at the edge (where budgets are checked) to cost known, per event batch.",
    buckets=_PIPELINE_BUCKETS,
)
TOKEN_EVENT_PIPELINE_SECONDS = Histogram(
    "mno_token_event_pipeline_seconds",
    "From acceptance at the edge to stored with its cost (queryable), per event batch.",
    buckets=_PIPELINE_BUCKETS,
)

REGISTRY_ORPHAN_BLOBS_DELETED_TOTAL = Counter(
    "mno_registry_orphan_blobs_deleted_total", "Blobs no row referred to, deleted by the orphan-blob sweep."
)
REGISTRY_ORPHAN_BLOB_BYTES_FREED_TOTAL = Counter(
    "mno_registry_orphan_blob_bytes_freed_total", "Bytes of the blobs the orphan-blob sweep deleted."
)
REGISTRY_ORPHAN_BLOB_SWEEP_SECONDS = Gauge(
    "mno_registry_orphan_blob_sweep_seconds", "How long the last complete orphan-blob sweep took."
)
