-- Download policies per team: which open findings block a version's download, the quarantine of
-- newly proxied upstream versions, per-version overrides, and the blocked versions as last announced
-- to the ArtifactManagerAgent (the difference with a fresh evaluation is what gets announced).

CREATE TABLE download_policies (
    team_id uuid PRIMARY KEY,
    block_severity text NOT NULL CHECK (block_severity IN ('none', 'low', 'medium', 'high', 'critical')),
    quarantine_days integer NOT NULL CHECK (quarantine_days >= 0),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE download_overrides (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,  -- purl type
    name text NOT NULL,
    version text NOT NULL,
    reason text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, ecosystem, name, version)
);

-- Orders the announcements: the registry keeps, per version, the decision of the highest revision.
CREATE SEQUENCE download_block_revisions;

CREATE TABLE announced_blocks (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    findings jsonb NOT NULL,
    PRIMARY KEY (team_id, ecosystem, name, version)
);
