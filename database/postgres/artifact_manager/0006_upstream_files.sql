-- Files a team's index took from its upstream (services/registry/npm_upstream.py): fetched once,
-- checked against the digest the upstream listed, kept in the blob store under their SHA-256, and
-- served from there afterwards without asking the upstream again. Per team, so each team's
-- downloads are counted as a private file's are; the blob itself is shared by content.

CREATE TABLE upstream_files (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL CHECK (ecosystem IN ('pypi', 'npm', 'golang', 'maven', 'cargo')),
    upstream text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    filename text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size bigint NOT NULL CHECK (size >= 0),
    -- The upstream's own digest the bytes were checked against (`sha512-…` integrity, or sha1 hex).
    upstream_digest text NOT NULL,
    downloads bigint NOT NULL DEFAULT 0,
    cached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, ecosystem, upstream, name, filename)
);

-- A refused private upload removes its blob unless a row still uses it: cached files are such rows.
CREATE INDEX upstream_files_sha256 ON upstream_files (sha256);

-- Upstream packuments too large for a bus message, rendered into the blob store for the edge to
-- stream: one per team, name and form, the blob of the one replaced removed unless still used.
CREATE TABLE upstream_documents (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL CHECK (ecosystem IN ('pypi', 'npm', 'golang', 'maven', 'cargo')),
    upstream text NOT NULL,
    name text NOT NULL,
    form text NOT NULL,
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size bigint NOT NULL CHECK (size >= 0),
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, ecosystem, upstream, name, form)
);

CREATE INDEX upstream_documents_sha256 ON upstream_documents (sha256);
