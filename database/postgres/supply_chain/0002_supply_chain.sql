-- The supply chain (services/supply_chain): OSV advisories (shared data: one copy for every team),
-- the import ledger, and per team the SBOMs, their components, findings, triage and attestations.
-- Teams live in the SuperAgent's schema, so team_id has no foreign key here; every team query is
-- scoped by it and the team-data purge deletes by it.

-- Every advisory imported, as its OSV record. `revision` grows on every insert or change, so each
-- replica's in-memory index catches up with `WHERE revision > $last` (imports may run on another).
CREATE SEQUENCE advisory_revisions;

CREATE TABLE advisories (
    id text PRIMARY KEY,
    modified timestamptz NOT NULL,
    withdrawn timestamptz,
    aliases text[] NOT NULL DEFAULT '{}',
    summary text,
    osv jsonb NOT NULL,
    revision bigint NOT NULL DEFAULT nextval('advisory_revisions'),
    imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX advisories_revision ON advisories (revision);

-- (OSV ecosystem, normalised name) of every package an advisory names: what a re-scan looks up.
CREATE TABLE advisory_packages (
    advisory_id text NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
    ecosystem text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (advisory_id, ecosystem, name)
);

CREATE INDEX advisory_packages_package ON advisory_packages (ecosystem, name);

-- The import ledger: one row per import, with what it changed.
CREATE TABLE advisory_imports (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
    files integer NOT NULL DEFAULT 0,
    new integer NOT NULL DEFAULT 0,
    modified integer NOT NULL DEFAULT 0,
    withdrawn integer NOT NULL DEFAULT 0,
    unchanged integer NOT NULL DEFAULT 0,
    errors jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [[file, reason], ...] (the first 100)
    error_count integer NOT NULL DEFAULT 0,
    findings_changed integer NOT NULL DEFAULT 0,
    sboms_rescanned integer NOT NULL DEFAULT 0,
    failure text
);

CREATE INDEX advisory_imports_started ON advisory_imports (started_at DESC);

-- An SBOM: of a registry version (source 'artifact', one per team and version), an uploaded SBOM or
-- a scanned lockfile. `graph` is services.supply_chain.sbom.graph's ComponentGraph as JSON; with
-- `created` and `tool_version` it regenerates the CycloneDX and SPDX documents byte for byte, which
-- are also kept in the blob store (by digest) for download.
CREATE TABLE sboms (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    source text NOT NULL CHECK (source IN ('artifact', 'upload', 'lockfile')),
    subject_ecosystem text,  -- purl type
    subject_name text NOT NULL,
    subject_version text,
    document_name text,  -- an uploaded document's file name
    input_format text NOT NULL,  -- cyclonedx, spdx, requirements.txt, package-lock.json, ...
    graph jsonb NOT NULL,
    component_count integer NOT NULL,
    created timestamptz NOT NULL,
    tool_version text NOT NULL,
    cyclonedx_sha256 text NOT NULL CHECK (cyclonedx_sha256 ~ '^[0-9a-f]{64}$'),
    cyclonedx_size bigint NOT NULL,
    spdx_sha256 text NOT NULL CHECK (spdx_sha256 ~ '^[0-9a-f]{64}$'),
    spdx_size bigint NOT NULL,
    event_id text,  -- the artifact_published event that made it
    scanned_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sboms_team ON sboms (team_id, created DESC);
CREATE UNIQUE INDEX sboms_artifact ON sboms (team_id, subject_ecosystem, subject_name, subject_version)
    WHERE source = 'artifact';

-- The scannable components of each SBOM (those with an OSV ecosystem and a version).
CREATE TABLE sbom_components (
    sbom_id uuid NOT NULL REFERENCES sboms (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,  -- OSV ecosystem
    name text NOT NULL,  -- normalised (ecosystems.normalise_name)
    display_name text NOT NULL,
    version text NOT NULL,
    purl text NOT NULL,
    path text[] NOT NULL,
    PRIMARY KEY (sbom_id, ecosystem, name, version, purl)
);

CREATE INDEX sbom_components_package ON sbom_components (ecosystem, name);

-- A finding: one advisory matching one component of one SBOM. A withdrawn advisory (or one that no
-- longer matches after a change) retires it; its triage stays (keyed by advisory and purl).
CREATE TABLE findings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    sbom_id uuid NOT NULL REFERENCES sboms (id) ON DELETE CASCADE,
    advisory_id text NOT NULL,
    ecosystem text NOT NULL,
    package text NOT NULL,  -- normalised
    display_name text NOT NULL,
    version text NOT NULL,
    purl text NOT NULL,
    aliases text[] NOT NULL DEFAULT '{}',
    summary text,
    severity_score double precision,
    severity_rating text,  -- none/low/medium/high/critical; NULL when the advisory gives none
    severity_method text,
    severity_vector text,
    fixed_versions text[] NOT NULL DEFAULT '{}',
    path text[] NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    retired_reason text,
    UNIQUE (sbom_id, advisory_id, purl)
);

CREATE INDEX findings_team ON findings (team_id, retired_at, severity_score DESC NULLS LAST);
CREATE INDEX findings_package ON findings (ecosystem, package);

-- Triage (VEX) per team, advisory and component purl: kept across re-scans and SBOMs.
CREATE TABLE triage (
    team_id uuid NOT NULL,
    advisory_id text NOT NULL,
    purl text NOT NULL,
    status text NOT NULL CHECK (status IN ('under_investigation', 'affected', 'not_affected', 'fixed')),
    justification text,
    impact_statement text,
    action_statement text,
    note text,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    history jsonb NOT NULL,  -- every transition: previous, decision, actor, at
    PRIMARY KEY (team_id, advisory_id, purl)
);

-- Signed statements (DSSE envelopes of in-toto statements) about an SBOM or a scan of it. The
-- envelope is kept here and, for download, in the blob store.
CREATE TABLE attestations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    sbom_id uuid REFERENCES sboms (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('sbom', 'scan')),
    predicate_type text NOT NULL,
    subject_name text NOT NULL,
    subject_sha256 text NOT NULL,
    key_id text NOT NULL,
    envelope jsonb NOT NULL,
    envelope_sha256 text NOT NULL CHECK (envelope_sha256 ~ '^[0-9a-f]{64}$'),
    envelope_size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX attestations_team ON attestations (team_id, sbom_id, created_at DESC);
