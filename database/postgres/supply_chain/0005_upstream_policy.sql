-- Upstream versions under the teams' download policies: a version a team's index takes from its
-- upstream gets an SBOM of its own (source 'upstream': one component, the version itself), matched and
-- re-matched against the advisories like any other, so its findings block it as a team's own
-- version's do. Unrated findings block only where the policy says so (`block_unrated`). What the
-- registry was last told of the policy (`announced`) and of the overrides (`announced_overrides`) is
-- kept, so a sync announces only differences and the periodic pass repairs a failed announcement.

ALTER TABLE sboms DROP CONSTRAINT sboms_source_check;
ALTER TABLE sboms ADD CONSTRAINT sboms_source_check
    CHECK (source IN ('artifact', 'upstream', 'upload', 'lockfile'));
CREATE UNIQUE INDEX sboms_upstream ON sboms (team_id, subject_ecosystem, subject_name, subject_version)
    WHERE source = 'upstream';

ALTER TABLE download_policies ADD COLUMN block_unrated boolean NOT NULL DEFAULT false;
-- {quarantine_days, block_severity, block_unrated} as last announced; NULL: never (announced at the
-- next sync).
ALTER TABLE download_policies ADD COLUMN announced jsonb;

CREATE TABLE announced_overrides (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    PRIMARY KEY (team_id, ecosystem, name, version)
);
