-- `model` becomes the model as the price source names it (genai-prices' `gpt-4o-mini` for
-- `gpt-4o-mini-2024-07-18` too), so dated snapshots of one model are one group; `model_raw` keeps
-- the name the client reported (what prices are looked up by). Events stored before were stored by
-- the reported name: for them both columns read the same (the default expression).
--
-- The hourly rollup keeps the reported name as its last key column, `reported_model`, '' when it is
-- the same as `model` (a key column added to a table with rows cannot have a default expression, so
-- '' is what rows stored before hold, and it means the same for them). Queries read the reported
-- name as if(reported_model = '', model, reported_model). The daily and tag rollups group by the
-- canonical model only. As in 0004, the hourly view is dropped and created again.
ALTER TABLE token_events
    ADD COLUMN IF NOT EXISTS model_raw LowCardinality(String) DEFAULT model AFTER model;
ALTER TABLE token_costs_hourly
    ADD COLUMN IF NOT EXISTS reported_model String AFTER model,
    MODIFY ORDER BY (
        team_id, hour, provider, model, project, user, prompt_name, prompt_version, status, api_key_id,
        reported_model
    );

DROP VIEW IF EXISTS token_costs_hourly_mv;
CREATE MATERIALIZED VIEW IF NOT EXISTS token_costs_hourly_mv TO token_costs_hourly AS
SELECT
    team_id,
    toStartOfHour(timestamp) AS hour,
    provider,
    model,
    if(model_raw = model, '', model_raw) AS reported_model,
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
GROUP BY
    team_id, hour, provider, model, reported_model, project, user, prompt_name, prompt_version, status,
    api_key_id;
