-- What the SupplyChainAgent decided about downloads, kept here so a download is checked against a
-- local table instead of asking another agent per file: versions blocked by a team's policy (the
-- newest revision per version wins; a released version keeps its row with blocked = false, so an
-- older, late "blocked" cannot win), and each team's quarantine of upstream versions.

CREATE TABLE blocked_versions (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    blocked boolean NOT NULL,
    findings jsonb NOT NULL,
    revision bigint NOT NULL,
    PRIMARY KEY (team_id, ecosystem, name, version)
);

CREATE TABLE download_policies (
    team_id uuid PRIMARY KEY,
    quarantine_days integer NOT NULL,
    revision bigint NOT NULL
);

-- When this registry first saw each upstream version: a version's age when the upstream does not
-- say when it was uploaded (PEP 503 HTML pages, pypiserver's). Facts about public upstreams, not
-- about a team.
CREATE TABLE upstream_versions (
    upstream text NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upstream, ecosystem, name, version)
);
