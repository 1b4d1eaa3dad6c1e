-- Every priced LLM call. One row per (team, event id); a resend that slips past the consumer's
-- lookup is collapsed by ReplacingMergeTree on merge (queries on this table read it with FINAL).
-- `price_revision` grows when an event is re-priced; the newest revision wins.
CREATE TABLE IF NOT EXISTS token_events (
    team_id LowCardinality(String),
    event_id String,
    timestamp DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    stored_at DateTime64(3, 'UTC') DEFAULT now64(3),
    provider LowCardinality(String),
    model LowCardinality(String),
    input_tokens UInt64,
    output_tokens UInt64,
    cache_read_tokens UInt64,
    cache_write_tokens UInt64,
    reasoning_tokens UInt64,
    latency_ms Nullable(Float64),
    status LowCardinality(String),
    user String,
    project String,
    prompt_name String,
    prompt_version String,
    request_id String,
    api_key_id String,
    tags Map(LowCardinality(String), String),
    priced Bool,
    cost_usd Decimal(38, 12),
    input_cost_usd Decimal(38, 12),
    output_cost_usd Decimal(38, 12),
    cache_read_cost_usd Decimal(38, 12),
    cache_write_cost_usd Decimal(38, 12),
    price_version String,
    price_tier String,
    pricing_error String,
    price_revision UInt32 DEFAULT 1,
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = ReplacingMergeTree(price_revision)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (team_id, toStartOfHour(timestamp), event_id);

-- Hourly rollup for dashboards and day/hour series: one row per team, hour and dimension values.
-- Fed by the view below from first-revision rows only; re-pricing writes its correction rows here
-- directly (cost delta, zero counts), so sums stay exact without reading the raw table.
CREATE TABLE IF NOT EXISTS token_costs_hourly (
    team_id LowCardinality(String),
    hour DateTime('UTC'),
    provider LowCardinality(String),
    model LowCardinality(String),
    project String,
    user String,
    prompt_name String,
    prompt_version String,
    status LowCardinality(String),
    api_key_id String,
    events SimpleAggregateFunction(sum, UInt64),
    unpriced_events SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    latency AggregateFunction(quantilesTDigest(0.5, 0.95), Float64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (team_id, hour, provider, model, project, user, prompt_name, prompt_version, status, api_key_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS token_costs_hourly_mv TO token_costs_hourly AS
SELECT
    team_id,
    toStartOfHour(timestamp) AS hour,
    provider,
    model,
    project,
    user,
    prompt_name,
    prompt_version,
    status,
    api_key_id,
    count() AS events,
    countIf(NOT priced) AS unpriced_events,
    countIf(status = 'error') AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestStateIf(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency
FROM token_events
WHERE price_revision = 1
GROUP BY team_id, hour, provider, model, project, user, prompt_name, prompt_version, status, api_key_id;

-- The same figures per tag (key, value), for grouping by a tag.
CREATE TABLE IF NOT EXISTS token_costs_tags_hourly (
    team_id LowCardinality(String),
    hour DateTime('UTC'),
    tag_key LowCardinality(String),
    tag_value String,
    events SimpleAggregateFunction(sum, UInt64),
    unpriced_events SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cache_read_tokens SimpleAggregateFunction(sum, UInt64),
    cache_write_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Decimal(38, 12)),
    latency AggregateFunction(quantilesTDigest(0.5, 0.95), Float64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (team_id, tag_key, hour, tag_value);

CREATE MATERIALIZED VIEW IF NOT EXISTS token_costs_tags_hourly_mv TO token_costs_tags_hourly AS
SELECT
    team_id,
    toStartOfHour(timestamp) AS hour,
    tag.1 AS tag_key,
    tag.2 AS tag_value,
    count() AS events,
    countIf(NOT priced) AS unpriced_events,
    countIf(status = 'error') AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestStateIf(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency
FROM token_events
ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS tag
WHERE price_revision = 1
GROUP BY team_id, hour, tag_key, tag_value;
