-- Versions of teams whose plan does not include supply_chain (or whose plan could not be told when
-- the version came): no SBOM, finding, alert or block is made for them. Each is kept as the event
-- that announced it, so that when the team's plan gains the feature its versions get their SBOMs
-- (the catch-up job asks the SuperAgent which of these teams are entitled now). One row per
-- version: the first file's event, as the backfill takes it.
CREATE TABLE deferred_versions (
    team_id uuid NOT NULL,
    source text NOT NULL CHECK (source IN ('artifact', 'upstream')),
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    event jsonb NOT NULL,
    deferred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, source, ecosystem, name, version)
);
