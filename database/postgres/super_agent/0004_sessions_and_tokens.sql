-- Sign-in with GitHub: single-use OAuth states, server-side sessions, and the GitHub tokens
-- we hold for users and installations (always encrypted; see services/github/crypto.py).

CREATE TABLE oauth_states (
    state_hash bytea PRIMARY KEY,
    verifier_ciphertext bytea NOT NULL,
    browser_binding bytea NOT NULL,
    return_to text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- Only a hash of the session token is stored: a leaked table opens no session.
CREATE TABLE user_sessions (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    ip text,
    user_agent text
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- The App's user-to-server token of each user; `version` makes refresh-token rotation atomic.
CREATE TABLE user_github_tokens (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    access_ciphertext bytea NOT NULL,
    access_expires_at timestamptz,
    refresh_ciphertext bytea,
    refresh_expires_at timestamptz,
    version int NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Installation access tokens, cached across restarts and replicas (TEXT-like: opaque, long).
CREATE TABLE installation_tokens (
    installation_id bigint NOT NULL,
    scope_key text NOT NULL,
    ciphertext bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (installation_id, scope_key)
);
