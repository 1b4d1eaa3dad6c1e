-- Prompts as code (services/prompts): per team, prompts with immutable numbered versions, labels that
-- point at one version each, approvals of versions, every label move, and the team's label policy.
-- Teams live in the SuperAgent's schema, so team_id has no foreign key here; every query is scoped by
-- it and the team-data purge deletes by it.

CREATE TABLE prompts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    name text NOT NULL,
    type text NOT NULL CHECK (type IN ('text', 'chat')),
    -- Tags describe the prompt, not a version (not content: retagging makes no version).
    tags text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

-- A version is never updated or deleted (but by a team purge): a label move is the only rollback.
CREATE TABLE prompt_versions (
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    name text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    document jsonb NOT NULL,
    content_hash text NOT NULL,
    author text NOT NULL,
    commit_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, version),
    UNIQUE (team_id, name, version)
);

-- What each version includes (by label or by version): the reverse lookup of a label move's impact.
CREATE TABLE prompt_includes (
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL,
    version integer NOT NULL,
    alias text NOT NULL,
    target_name text NOT NULL,
    target_label text,
    target_version integer,
    PRIMARY KEY (prompt_id, version, alias),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version) ON DELETE CASCADE
);

CREATE INDEX prompt_includes_target ON prompt_includes (team_id, target_name);

-- A label lives on one version at a time (`latest` is derived, never stored). A move is one
-- compare-and-set UPDATE on (label, version): of two concurrent moves, the second finds `stale`.
CREATE TABLE prompt_labels (
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    label text NOT NULL,
    version integer,
    protected boolean NOT NULL DEFAULT false,
    moved_by text,
    moved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, label),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version)
);

CREATE INDEX prompt_labels_team ON prompt_labels (team_id);

-- A second person's approval of one version, with the permissions they held when they gave it.
CREATE TABLE prompt_approvals (
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL,
    version integer NOT NULL,
    approver text NOT NULL,
    permissions text[] NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, version, approver),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version) ON DELETE CASCADE
);

-- Evaluation outcomes of versions (written by the evaluation runner, a later session): the
-- promotion gate reads the newest one of the version a protected label moves to.
CREATE TABLE prompt_evaluations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL,
    version integer NOT NULL,
    passed boolean NOT NULL,
    summary jsonb NOT NULL DEFAULT '{}',
    finished_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version) ON DELETE CASCADE
);

CREATE INDEX prompt_evaluations_version ON prompt_evaluations (prompt_id, version, finished_at DESC);

-- Every label move applied (refusals are in the SuperAgent's audit log, which sees them all).
CREATE TABLE prompt_label_moves (
    id bigserial PRIMARY KEY,
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    label text NOT NULL,
    from_version integer,
    to_version integer NOT NULL,
    rollback boolean NOT NULL,
    protected boolean NOT NULL,
    moved_by text NOT NULL,
    approved_by text,
    moved_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX prompt_label_moves_prompt ON prompt_label_moves (team_id, prompt_id, id DESC);

-- The team's label policy (no row: `production` protected, no second approver, no evaluation).
CREATE TABLE prompt_policies (
    team_id uuid PRIMARY KEY,
    protected_labels text[] NOT NULL,
    require_second_approver boolean NOT NULL,
    require_passing_evaluation boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
