-- The teams' download policies over upstream versions: whether a team's policy blocks downloads at
-- all (a version the team never took from its upstream is then matched by the SupplyChainAgent before
-- its first download), the overrides that let a quarantined upstream version through, and which of
-- the upstream files a team took were announced (`upstream_version_fetched`) for matching: rows
-- cached before this migration are announced by the `upstream-announce` job.

ALTER TABLE download_policies ADD COLUMN block_severity text NOT NULL DEFAULT 'none';

CREATE TABLE download_overrides (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    allowed boolean NOT NULL,
    revision bigint NOT NULL,
    PRIMARY KEY (team_id, ecosystem, name, version)
);

ALTER TABLE upstream_files ADD COLUMN announced boolean NOT NULL DEFAULT false;
CREATE INDEX upstream_files_unannounced ON upstream_files (cached_at) WHERE NOT announced;
