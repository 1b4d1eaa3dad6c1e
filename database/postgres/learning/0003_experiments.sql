-- Prompt experiments (services/prompts/experiments.py): variants are versions of one prompt, split
-- by weight with GrowthBook's v2 hash (services/prompts/assignment.py, so the SDK assigns locally);
-- one exposure per unit; scores per request. Token-event metrics stay in the MonitoringAgent's
-- ClickHouse and are asked for by experiment id. Deleting a prompt (a team purge) cascades here.

CREATE TABLE experiments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    prompt_id uuid NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'stopped')),
    seed text NOT NULL,
    unit_kind text NOT NULL CHECK (unit_kind IN ('user', 'session')),
    coverage double precision NOT NULL CHECK (coverage > 0 AND coverage <= 1),
    primary_metric text NOT NULL,
    guardrails jsonb NOT NULL DEFAULT '[]',
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    stopped_at timestamptz
);

CREATE INDEX experiments_team ON experiments (team_id, created_at DESC);

-- Weights never change once created: assignment is a function of (seed, weights, unit), so a
-- change would move exposed units. A variant a guardrail stopped keeps its row (stopped_at).
CREATE TABLE experiment_variants (
    experiment_id uuid NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    position smallint NOT NULL,
    key text NOT NULL,
    prompt_id uuid NOT NULL,
    version integer NOT NULL,
    weight double precision NOT NULL CHECK (weight > 0 AND weight <= 1),
    stopped_at timestamptz,
    stop_reason text,
    PRIMARY KEY (experiment_id, key),
    UNIQUE (experiment_id, position),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version) ON DELETE CASCADE
);

-- Once per unit: the SDK may post an exposure on every call; the first one counts.
CREATE TABLE experiment_exposures (
    experiment_id uuid NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    unit_id text NOT NULL,
    variant text NOT NULL,
    exposed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, unit_id)
);

-- One value per (request, score name): a second post replaces it (feedback changes its mind).
CREATE TABLE experiment_scores (
    experiment_id uuid NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    request_id text NOT NULL,
    name text NOT NULL,
    unit_id text NOT NULL,
    variant text NOT NULL,
    value double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment_id, request_id, name)
);
