-- Daily rollup without the high-cardinality user and API-key dimensions: a 90-day dashboard reads
-- ~90 rows per model and project instead of one per hour and user. Fed from the hourly rollup (a
-- cascading view), so re-pricing's correction rows in the hourly table reach it too.
CREATE TABLE IF NOT EXISTS token_costs_daily (
    team_id LowCardinality(String),
    day DateTime('UTC'),
    provider LowCardinality(String),
    model LowCardinality(String),
    project String,
    prompt_name String,
    prompt_version String,
    status LowCardinality(String),
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
PARTITION BY toYYYYMM(day)
ORDER BY (team_id, day, provider, model, project, prompt_name, prompt_version, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS token_costs_daily_mv TO token_costs_daily AS
SELECT
    team_id,
    toStartOfDay(hour) AS day,
    provider,
    model,
    project,
    prompt_name,
    prompt_version,
    status,
    sum(events) AS events,
    sum(unpriced_events) AS unpriced_events,
    sum(errors) AS errors,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestMergeState(0.5, 0.95)(latency) AS latency
FROM token_costs_hourly
GROUP BY team_id, day, provider, model, project, prompt_name, prompt_version, status;

-- What was stored before this rollup existed (only while it is still empty: a rerun adds nothing).
INSERT INTO token_costs_daily
SELECT
    team_id,
    toStartOfDay(hour) AS day,
    provider,
    model,
    project,
    prompt_name,
    prompt_version,
    status,
    sum(events),
    sum(unpriced_events),
    sum(errors),
    sum(input_tokens),
    sum(output_tokens),
    sum(cache_read_tokens),
    sum(cache_write_tokens),
    sum(reasoning_tokens),
    sum(cost_usd),
    quantilesTDigestMergeState(0.5, 0.95)(latency)
FROM token_costs_hourly
WHERE (SELECT count() FROM token_costs_daily) = 0
GROUP BY team_id, day, provider, model, project, prompt_name, prompt_version, status;
