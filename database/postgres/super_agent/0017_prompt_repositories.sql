-- A team's prompt repository (PUT /api/v1/prompts/-/repository): a repository of one of its
-- account's installations whose folder of `*.yaml` files a push to `branch` syncs into the team's
-- prompts (the versions themselves are the LearningAgent's, saved through its endpoint). One per
-- team; teams of one account may connect the same repository, each with its own sync state.
CREATE TABLE prompt_repositories (
    team_id uuid PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    installation_id bigint NOT NULL,
    repository_id bigint NOT NULL,
    full_name text NOT NULL,
    branch text NOT NULL,
    folder text NOT NULL,
    connected_by text NOT NULL,
    connected_at timestamptz NOT NULL DEFAULT now(),
    -- The last push applied: its head commit, when, the delivery's GUID, who pushed, what it
    -- saved and which files it refused (path, code, message).
    last_sync_sha text,
    last_synced_at timestamptz,
    last_sync_delivery text,
    -- The delivery's row id: deliveries are numbered as they arrive, so a push that arrived before
    -- the one synced (a failed one retried later) is stale and changes nothing.
    last_sync_delivery_id bigint,
    last_sync_pusher text,
    -- Whether that push's tree was read: one that could not be (no access, plan) is tried again
    -- when the same head is delivered again, instead of counting as synced.
    last_sync_read boolean NOT NULL DEFAULT false,
    last_sync_saved jsonb NOT NULL DEFAULT '[]'::jsonb,
    last_sync_errors jsonb NOT NULL DEFAULT '[]'::jsonb,
    -- Blob SHA of each file synced without a problem ({path: sha}): a later push sends only the
    -- files whose blob changed (or that failed before).
    synced_blobs jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX prompt_repositories_by_repository ON prompt_repositories (repository_id, branch);
