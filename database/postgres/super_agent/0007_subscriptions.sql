-- Marketplace subscriptions: the state machine's record per GitHub account (services/marketplace),
-- with the plan key it maps to, and the history of every transition (applied or ignored).
CREATE TABLE subscriptions (
    account_github_id bigint PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status text NOT NULL,
    plan_key text NOT NULL,
    state jsonb NOT NULL,
    -- When something scheduled (trial end, plan change, cancellation) next comes due.
    next_due_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_due ON subscriptions (next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE subscription_history (
    id bigserial PRIMARY KEY,
    account_github_id bigint NOT NULL,
    action text NOT NULL,
    delivery_id text,
    from_status text,
    to_status text,
    applied boolean NOT NULL,
    reason text NOT NULL,
    effects jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_history_account ON subscription_history (account_github_id, id);

-- An account's deactivation is announced on the bus by the lifecycle job (an outbox), so the
-- announcement cannot run ahead of the transaction that deactivated it.
ALTER TABLE accounts ADD COLUMN deactivation_announced_at timestamptz;
