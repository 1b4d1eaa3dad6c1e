-- npm's own state beside the ecosystem-neutral rows of 0002: per package its dist-tags, readme and
-- a revision (`_rev`, which npm echoes back on unpublish); per version the manifest as published (the
-- package.json npm sent, needed to render packuments), the tarball's digests and a deprecation; and
-- the versions unpublished (their numbers are never published again).

CREATE TABLE npm_packages (
    package_id bigint PRIMARY KEY REFERENCES packages (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    dist_tags jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision integer NOT NULL DEFAULT 1 CHECK (revision > 0),
    readme text,
    readme_filename text,
    created_at timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX npm_packages_team ON npm_packages (team_id);

CREATE TABLE npm_versions (
    version_id bigint PRIMARY KEY REFERENCES versions (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    manifest jsonb NOT NULL,
    integrity text NOT NULL CHECK (integrity LIKE 'sha512-%'),
    shasum text NOT NULL CHECK (shasum ~ '^[0-9a-f]{40}$'),
    deprecated text,
    file_count integer,
    unpacked_size bigint
);

CREATE INDEX npm_versions_team ON npm_versions (team_id);

CREATE TABLE npm_unpublished (
    team_id uuid NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    unpublished_at timestamptz NOT NULL DEFAULT now(),
    unpublished_by text,
    PRIMARY KEY (team_id, name, version)
);
