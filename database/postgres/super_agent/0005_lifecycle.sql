-- Purges of team data: one request per purge, one confirmation per agent that holds team data.
CREATE TABLE purge_requests (
    request_id text PRIMARY KEY,
    account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
    team_ids uuid[] NOT NULL,
    reason text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    last_sent_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX purge_requests_open ON purge_requests (last_sent_at) WHERE completed_at IS NULL;

CREATE TABLE purge_confirmations (
    request_id text NOT NULL REFERENCES purge_requests (request_id) ON DELETE CASCADE,
    agent text NOT NULL,
    rows_deleted bigint NOT NULL,
    confirmed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, agent)
);
