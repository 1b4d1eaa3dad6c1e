-- Alert delivery (services/alerts): per-team channels, alerts raised once per dedup key, the
-- work still owed to each channel, and the history of every attempt.
-- Teams live in the SuperAgent's schema, so team_id has no foreign key here; every query is
-- scoped by it, and the team-data purge deletes by it.

CREATE TABLE alert_channels (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('email', 'slack', 'webhook')),
    name text NOT NULL,
    -- Non-secret settings (recipients, webhook URL, Slack host), shown back through the API.
    settings jsonb NOT NULL,
    -- Secret settings (Slack webhook URL, signing secret) as JSON sealed with SecretBox, bound to
    -- (team, channel id); NULL for kinds without secrets.
    sealed_secrets bytea,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

CREATE TABLE alerts (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL,
    kind text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title text NOT NULL,
    text text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Built by the raiser, e.g. budget:<id>:<period_start>:<threshold>: the same alert twice is
    -- refused here, which is what makes "once per threshold crossing per period" hold across
    -- replicas and restarts.
    dedup_key text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, dedup_key)
);

CREATE INDEX alerts_team_raised ON alerts (team_id, raised_at DESC, id DESC);

-- What is still owed: one row per (alert, channel). A worker claims a row by moving
-- next_attempt_at past a lease; if it dies mid-attempt the lease runs out and deliver_due()
-- anywhere takes the row over.
CREATE TABLE alert_dispatches (
    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES alert_channels (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    PRIMARY KEY (alert_id, channel_id),
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);

CREATE INDEX alert_dispatches_due ON alert_dispatches (next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_dispatches_channel ON alert_dispatches (channel_id);

-- One row per attempt. The channel's kind and name are copied so the history still reads after
-- the channel is deleted.
CREATE TABLE alert_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id uuid NOT NULL,
    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel_id uuid REFERENCES alert_channels (id) ON DELETE SET NULL,
    channel_kind text NOT NULL,
    channel_name text NOT NULL,
    attempt integer NOT NULL,
    status text NOT NULL CHECK (status IN ('sent', 'failed', 'retrying')),
    response_code integer,
    error text,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz
);

CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id, id);
CREATE INDEX alert_deliveries_channel ON alert_deliveries (channel_id) WHERE channel_id IS NOT NULL;
