-- GitHub accounts (users and organisations) that installed the App or bought a plan, their
-- installations and repositories, and every webhook delivery we accepted.

CREATE TABLE accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_id bigint UNIQUE,  -- NULL for a local account (made by `mno run`, no GitHub)
    login text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('User', 'Organization', 'Local')),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deactivated', 'purged')),
    deactivated_at timestamptz,
    purge_after timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every record of every agent belongs to a team; an account starts with one default team.
CREATE TABLE teams (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    slug text NOT NULL,
    name text NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, slug)
);
CREATE UNIQUE INDEX teams_one_default_per_account ON teams (account_id) WHERE is_default;

CREATE TABLE installations (
    github_id bigint PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    target_type text NOT NULL,
    repository_selection text,
    permissions jsonb NOT NULL DEFAULT '{}'::jsonb,
    events text[] NOT NULL DEFAULT '{}',
    -- The GitHub user who installed the App (the `sender` of installation.created): the one
    -- person who becomes owner of the account's default team without anyone inviting them.
    installed_by_github_id bigint,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    suspended_at timestamptz,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX installations_account ON installations (account_id);

CREATE TABLE installation_repositories (
    installation_id bigint NOT NULL REFERENCES installations (github_id) ON DELETE CASCADE,
    repository_id bigint NOT NULL,
    full_name text NOT NULL,
    private boolean NOT NULL DEFAULT false,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (installation_id, repository_id)
);

-- Accepted deliveries, verbatim. GitHub does not retry by itself and a manual redelivery keeps
-- the GUID, so (hook id, GUID) identifies a delivery; `attempt` counts our processing runs.
CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    endpoint text NOT NULL CHECK (endpoint IN ('app', 'marketplace')),
    hook_id text NOT NULL,
    guid text NOT NULL,
    event text NOT NULL,
    action text,
    target_type text,
    target_id text,
    body bytea NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'received'
        CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    attempt int NOT NULL DEFAULT 1,
    redeliveries int NOT NULL DEFAULT 0,
    outcome text,
    last_error text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    UNIQUE (hook_id, guid)
);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, received_at);
