-- A delivery is known by its GUID on its endpoint, whether or not the optional X-GitHub-Hook-ID
-- header came with it (it used to be part of the key, so a GUID resent without it was new).
-- Rows that only the hook id told apart keep their data under a marked GUID.
UPDATE webhook_deliveries d SET guid = d.guid || '#dup-' || d.id
WHERE EXISTS (
    SELECT 1 FROM webhook_deliveries e WHERE e.endpoint = d.endpoint AND e.guid = d.guid AND e.id < d.id
);
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_hook_id_guid_key;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_endpoint_guid_key UNIQUE (endpoint, guid);

-- The ledger of signed documents: the signature covers only the body, so a captured body sent
-- again under a fresh GUID is recognised by its SHA-256 and counted here, never applied again.
-- (For rows stored before, the first of each identical body takes the digest.)
ALTER TABLE webhook_deliveries
    ADD COLUMN document_sha256 bytea,
    ADD COLUMN replays int NOT NULL DEFAULT 0,
    ADD COLUMN last_replay_guid text,
    ADD COLUMN last_replay_at timestamptz;
UPDATE webhook_deliveries d SET document_sha256 = sha256(d.body)
WHERE NOT EXISTS (
    SELECT 1 FROM webhook_deliveries e WHERE e.endpoint = d.endpoint AND e.body = d.body AND e.id < d.id
);
CREATE UNIQUE INDEX webhook_deliveries_document ON webhook_deliveries (endpoint, document_sha256);

-- Operators list deliveries by event (and status) newest first.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event, id);
