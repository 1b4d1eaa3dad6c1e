-- The artifact registry (services/registry): per-team packages of every ecosystem, their versions,
-- files (bytes in the blob store, by SHA-256), declared dependencies, a search document and
-- download counts. Teams live in the SuperAgent's schema, so team_id has no foreign key here; every
-- query is scoped by it and the team-data purge deletes by it.

CREATE TABLE packages (
    id bigserial PRIMARY KEY,
    team_id uuid NOT NULL,
    ecosystem text NOT NULL CHECK (ecosystem IN ('pypi', 'npm', 'golang', 'maven', 'cargo')),
    name text NOT NULL,  -- normalised by the ecosystem's rules
    display_name text NOT NULL,
    -- Derived from the versions by the ecosystem's ordering (in Python, not SQL): refreshed on every
    -- publish, yank and delete.
    latest_version text,
    stable_version text,
    summary text,
    license text,
    keywords text[] NOT NULL DEFAULT '{}',
    -- Weighted: A the name, B keywords and summary, C the description (of the latest version).
    search_document tsvector NOT NULL DEFAULT ''::tsvector,
    downloads bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, ecosystem, name)
);

CREATE INDEX packages_search ON packages USING gin (search_document);
CREATE INDEX packages_team_license ON packages (team_id, ecosystem, license);

CREATE TABLE versions (
    id bigserial PRIMARY KEY,
    team_id uuid NOT NULL,
    package_id bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    version text NOT NULL,  -- the ecosystem's canonical spelling
    prerelease boolean NOT NULL,
    -- The version's metadata as the wire's VersionInfo has it (without files and dependencies).
    metadata jsonb NOT NULL,
    yanked boolean NOT NULL DEFAULT false,
    yanked_reason text,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by text,
    UNIQUE (package_id, version)
);

CREATE INDEX versions_team ON versions (team_id);

CREATE TABLE files (
    id bigserial PRIMARY KEY,
    team_id uuid NOT NULL,
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    ecosystem text NOT NULL,
    filename text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size bigint NOT NULL CHECK (size >= 0),
    digests jsonb NOT NULL DEFAULT '{}'::jsonb,
    kind text NOT NULL,
    requires_python text,
    core_metadata_sha256 text CHECK (core_metadata_sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    uploaded_by text,
    downloads bigint NOT NULL DEFAULT 0,
    -- One file name per team and ecosystem: a published file is never replaced by other bytes.
    UNIQUE (team_id, ecosystem, filename)
);

CREATE INDEX files_version ON files (version_id);
-- Whether a blob is still referenced (a refused or deleted upload removes it otherwise).
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_core_metadata ON files (core_metadata_sha256);

-- Content cannot change under a published name: the bytes, their digest and the name are fixed.
CREATE FUNCTION files_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.filename IS DISTINCT FROM OLD.filename OR NEW.sha256 IS DISTINCT FROM OLD.sha256
       OR NEW.size IS DISTINCT FROM OLD.size OR NEW.team_id IS DISTINCT FROM OLD.team_id THEN
        RAISE EXCEPTION 'a published file is immutable (%)', OLD.filename USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER files_immutable BEFORE UPDATE ON files FOR EACH ROW EXECUTE FUNCTION files_are_immutable();

-- Every file name ever published, kept when the file is deleted (as PyPI does): a deleted file's
-- name is never reused for other bytes, so a pinned hash can never silently change meaning.
CREATE TABLE published_filenames (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    filename text NOT NULL,
    sha256 text NOT NULL,
    first_published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, ecosystem, filename)
);

CREATE TABLE dependencies (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,  -- normalised, so "who depends on X" finds every spelling
    requirement text NOT NULL,
    kind text NOT NULL,
    extra text,
    marker text
);

CREATE INDEX dependencies_version ON dependencies (version_id);
CREATE INDEX dependencies_reverse ON dependencies (team_id, ecosystem, name);
