-- OTLP spans that became no token event, per team, hour, reason and emitting library: what the
-- dashboard's ingest health and `GET /api/v1/ingest/dropped-spans` read (the Prometheus counter has
-- no team). One upsert per export, not per span; `example` keeps one span's detail as a pointer.
-- Pruned after 30 days by the SuperAgent (`services.ingest.span_drops.prune`); team purges delete
-- the rows. No foreign key to teams, like the id ledger: an export costs no lookup.
CREATE TABLE otlp_span_drops (
    team_id uuid NOT NULL,
    hour timestamptz NOT NULL,
    reason text NOT NULL,
    library text NOT NULL,
    spans bigint NOT NULL CHECK (spans > 0),
    example text NOT NULL DEFAULT '',
    PRIMARY KEY (team_id, hour, reason, library)
);
CREATE INDEX otlp_span_drops_hour ON otlp_span_drops (hour);
