-- Evaluations (services/prompts/evaluations.py): a prompt's test set, and runs of a version against
-- it with one row per case. A run is `running` until every case is judged; one past its deadline
-- (its agent stopped) is `failed` when next read. The promotion gate reads the newest `finished`
-- run of the version a protected label moves to.

CREATE TABLE prompt_test_sets (
    prompt_id uuid PRIMARY KEY REFERENCES prompts (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    test_set jsonb NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX prompt_test_sets_team ON prompt_test_sets (team_id);

ALTER TABLE prompt_evaluations
    ADD COLUMN status text NOT NULL DEFAULT 'finished' CHECK (status IN ('running', 'finished', 'failed')),
    ADD COLUMN model text NOT NULL DEFAULT '',
    ADD COLUMN pass_rate double precision,
    ADD COLUMN min_pass_rate double precision NOT NULL DEFAULT 1,
    ADD COLUMN cases_total integer NOT NULL DEFAULT 0,
    ADD COLUMN test_set_revision integer,
    ADD COLUMN started_by text NOT NULL DEFAULT '',
    ADD COLUMN started_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN deadline_at timestamptz,
    ADD COLUMN error text,
    ALTER COLUMN passed DROP NOT NULL,
    ALTER COLUMN finished_at DROP NOT NULL,
    ALTER COLUMN finished_at DROP DEFAULT;

CREATE INDEX prompt_evaluations_runs ON prompt_evaluations (team_id, prompt_id, started_at DESC);

CREATE TABLE prompt_evaluation_cases (
    evaluation_id uuid NOT NULL REFERENCES prompt_evaluations (id) ON DELETE CASCADE,
    team_id uuid NOT NULL,
    position integer NOT NULL,
    case_id text NOT NULL,
    passed boolean NOT NULL,
    output text NOT NULL,
    latency_ms double precision,
    cost_usd numeric,
    input_tokens integer,
    output_tokens integer,
    error text,
    assertions jsonb NOT NULL,
    PRIMARY KEY (evaluation_id, position)
);
