-- The edge's ledger of accepted token-event ids, per team: a resent id (in any grouping, from any
-- replica) is answered as a duplicate for `ingest.duplicate_window_days`, then pruned.
-- A plain table, not daily partitions: the claim is one INSERT ... ON CONFLICT DO NOTHING, which
-- needs a unique key over the whole window, and a partitioned table's key must include the day.
-- No foreign key to teams: it would cost a lookup per event; team purges delete the rows.
-- UNLOGGED: it only reports duplicates (storage drops them by id anyway) and WAL for 1,000 ids a
-- batch cost ingest throughput; after a crash or failover it starts empty.
CREATE UNLOGGED TABLE ingested_event_ids (
    team_id uuid NOT NULL,
    event_id text NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, event_id)
);
-- Rows arrive in time order, so a BRIN index finds the expired ones for almost no write cost.
CREATE INDEX ingested_event_ids_accepted_at ON ingested_event_ids USING brin (accepted_at);
