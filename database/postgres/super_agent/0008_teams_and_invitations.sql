-- Teams managed inside an account, and invitations to join them (services/identity/teams.py,
-- members.py, invitations.py).

-- A deleted team stays (invisible, memberless, keyless) until every agent has confirmed the purge of
-- its data; services/identity/lifecycle.py: complete_purge then removes the row.
ALTER TABLE teams ADD COLUMN deleted_at timestamptz;
ALTER TABLE teams ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- An invitation names its invitee by e-mail address or by GitHub login (exactly one). Only the
-- SHA-256 of its token's secret is stored; re-sending replaces the hash, so the old token stops
-- working. Accepted, revoked and expired invitations stay as history.
CREATE TABLE invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    email text,
    github_login text,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer', 'billing')),
    secret_hash bytea NOT NULL,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz NOT NULL DEFAULT now(),
    send_count int NOT NULL DEFAULT 1,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at timestamptz,
    revoked_by uuid REFERENCES users (id) ON DELETE SET NULL,
    CHECK ((email IS NULL) <> (github_login IS NULL))
);
CREATE INDEX invitations_team ON invitations (team_id, created_at DESC, id);
-- One open invitation per invitee and team: inviting again is a re-send, not a second token.
CREATE UNIQUE INDEX invitations_open_email ON invitations (team_id, lower(email))
    WHERE email IS NOT NULL AND accepted_at IS NULL AND revoked_at IS NULL;
CREATE UNIQUE INDEX invitations_open_login ON invitations (team_id, lower(github_login))
    WHERE github_login IS NOT NULL AND accepted_at IS NULL AND revoked_at IS NULL;
