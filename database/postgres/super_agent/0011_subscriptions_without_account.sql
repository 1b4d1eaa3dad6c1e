-- A `cancelled` for a GitHub account never seen here is recorded (so a late, older purchase cannot
-- reactivate it) without making an account only to deactivate and purge it: such a subscription
-- has no account until a purchase creates one.
ALTER TABLE subscriptions ALTER COLUMN account_id DROP NOT NULL;
