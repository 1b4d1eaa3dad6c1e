-- A team's own JSON Schema for its prompts' model config (services/prompts/documents.py): every save
-- (API, dashboard, `mno prompts push`, the GitHub sync) checks the config against our base schema
-- and then against this one. No row: our base schema alone.

CREATE TABLE prompt_config_schemas (
    team_id uuid PRIMARY KEY,
    config_schema jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
