-- Which event ids each team has stored, sorted by (team, id): the consumer's "stored already?"
-- lookup is a primary-key lookup here, whatever the size of token_events (where ids are spread
-- over hours and a lookup had to read every granule of the range). Fed by a view, so an id is
-- written in the same insert as its event.
CREATE TABLE IF NOT EXISTS token_event_ids (
    team_id LowCardinality(String),
    event_id String,
    timestamp DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (team_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS token_event_ids_mv TO token_event_ids AS
SELECT team_id, event_id, timestamp FROM token_events WHERE price_revision = 1;

INSERT INTO token_event_ids SELECT team_id, event_id, timestamp FROM token_events FINAL
WHERE (team_id, event_id) NOT IN (SELECT team_id, event_id FROM token_event_ids);
