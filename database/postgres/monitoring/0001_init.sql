-- Inbox for idempotent event handling (shared/db/inbox.py): a row per handled message,
-- written in the same transaction as the handler's effects.
CREATE TABLE processed_messages (
    consumer text NOT NULL,
    message_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Mesh self-test: every agent records each canary event it receives.
CREATE TABLE canary_receipts (
    canary_id text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    deliveries int NOT NULL,
    instance_id text NOT NULL,
    payload jsonb NOT NULL
);
