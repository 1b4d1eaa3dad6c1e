-- Every package name a team ever published, in any ecosystem, kept when the package is deleted (or
-- unpublished): such a name stays the team's, so its upstream lookups never serve the public index's
-- package of the same name (dependency confusion after a delete). Written by every publish
-- (`store.ensure_package`); read by `upstream_store.name_is_private`.

CREATE TABLE published_names (
    team_id uuid NOT NULL,
    ecosystem text NOT NULL,
    name text NOT NULL,  -- normalised, as packages.name
    first_published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, ecosystem, name)
);

-- The names published before this migration: the live packages, npm's unpublished names, and the
-- Python projects named by the file names ever published (a wheel's first field; an sdist's name
-- before its last '-'), normalised as PEP 503 does.
INSERT INTO published_names (team_id, ecosystem, name)
SELECT team_id, ecosystem, name FROM packages
ON CONFLICT DO NOTHING;

INSERT INTO published_names (team_id, ecosystem, name)
SELECT DISTINCT team_id, 'npm', name FROM npm_unpublished
ON CONFLICT DO NOTHING;

INSERT INTO published_names (team_id, ecosystem, name)
SELECT DISTINCT team_id, 'pypi', lower(regexp_replace(
    CASE WHEN filename LIKE '%.whl' THEN split_part(filename, '-', 1)
         ELSE regexp_replace(filename, '-[^-]*\.(tar\.gz|zip)$', '') END,
    '[-_.]+', '-', 'g'))
FROM published_filenames WHERE ecosystem = 'pypi'
ON CONFLICT DO NOTHING;
