-- Events to publish (shared/db/outbox.py): written in the transaction that stores what they announce
-- (a published file), sent to JetStream after the commit, and by the relay job when that send
-- failed. Each row holds the event exactly as it goes on the wire (envelope bytes and headers: the
-- correlation id and trace of the request that caused it), under its deterministic message id,
-- which is the `Nats-Msg-Id`: a row sent twice is stored once. A published row is kept a while
-- (what was announced, when, after how many attempts) and then deleted.

CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id text NOT NULL UNIQUE,
    event text NOT NULL,
    subject text NOT NULL,
    data bytea NOT NULL,
    headers jsonb NOT NULL,
    -- The team the event is about: a purge of the team removes its rows, sent or not.
    team_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The relay leaves a row alone until then: a moment for the send after the commit, and a
    -- backoff after each failure.
    next_attempt_at timestamptz NOT NULL,
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);

CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_team ON outbox (team_id);
