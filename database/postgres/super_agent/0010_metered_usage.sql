-- Metered plan limits (monthly token events, ...): one counter per account, limit and period.
-- Consumed with a conditional upsert so concurrent edge replicas can never overshoot the plan.
CREATE TABLE metered_usage (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    metric text NOT NULL,
    period_start date NOT NULL,
    used bigint NOT NULL CHECK (used >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, metric, period_start)
);
