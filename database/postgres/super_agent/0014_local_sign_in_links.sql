-- One-time sign-in links of the local stack (`mno run` prints one): the link's secret is shown once,
-- only its SHA-256 is kept; using it marks it used, so a link copied from a terminal log later is dead.
CREATE TABLE local_sign_in_links (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX local_sign_in_links_user ON local_sign_in_links (user_id);
