-- Anthropic's 1-hour cache writes as their own token kind (priced at their own rate, 2x base input
-- against 1.25x for the 5-minute writes in `cache_write_tokens`): a column on the events and a sum in
-- every rollup. Rows stored before have none (0).
--
-- A view's query cannot be altered on both engines, so each rollup view is dropped and created again
-- with the new sum. Migrations run when the MonitoringAgent starts, before its consumer takes events,
-- so no insert falls between the two statements.
ALTER TABLE token_events
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens UInt64 DEFAULT 0 AFTER cache_write_tokens;
ALTER TABLE token_costs_hourly
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64) DEFAULT 0
    AFTER cache_write_tokens;
ALTER TABLE token_costs_tags_hourly
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64) DEFAULT 0
    AFTER cache_write_tokens;
ALTER TABLE token_costs_daily
    ADD COLUMN IF NOT EXISTS cache_write_1h_tokens SimpleAggregateFunction(sum, UInt64) DEFAULT 0
    AFTER cache_write_tokens;

DROP VIEW IF EXISTS token_costs_hourly_mv;
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
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestStateIf(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency
FROM token_events
WHERE price_revision = 1
GROUP BY team_id, hour, provider, model, project, user, prompt_name, prompt_version, status, api_key_id;

DROP VIEW IF EXISTS token_costs_tags_hourly_mv;
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
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestStateIf(0.5, 0.95)(assumeNotNull(latency_ms), isNotNull(latency_ms)) AS latency
FROM token_events
ARRAY JOIN arrayZip(mapKeys(tags), mapValues(tags)) AS tag
WHERE price_revision = 1
GROUP BY team_id, hour, tag_key, tag_value;

DROP VIEW IF EXISTS token_costs_daily_mv;
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
    sum(cache_write_1h_tokens) AS cache_write_1h_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_usd) AS cost_usd,
    quantilesTDigestMergeState(0.5, 0.95)(latency) AS latency
FROM token_costs_hourly
GROUP BY team_id, day, provider, model, project, prompt_name, prompt_version, status;
