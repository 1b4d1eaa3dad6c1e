-- Which token counts of an event its reporter could not know exactly (e.g. an instrumentation that
-- sends no cached-token count: cached input is then stored, and priced, as uncached input). The
-- names are the token columns ('cache_read_tokens', 'reasoning_tokens', ...); empty when every count
-- was reported. Rows stored before have none ([]). Only the raw events carry it: rollups sum tokens,
-- and a flag is read per event.
ALTER TABLE token_events
    ADD COLUMN IF NOT EXISTS estimated_counts Array(LowCardinality(String)) DEFAULT [];
