-- Budgets (services/budgets): spend limits per team / project / user / model / API key, with their
-- spend counted at acceptance (the edge asks the MonitoringAgent to admit each batch).
-- Teams live in the SuperAgent's schema: team_id has no foreign key; every query is scoped by it.

CREATE TABLE budgets (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL,
    name text NOT NULL,
    scope_kind text NOT NULL CHECK (scope_kind IN ('team', 'project', 'user', 'model', 'api_key')),
    -- '' for the whole team.
    scope_value text NOT NULL,
    amount_usd numeric(20, 6) NOT NULL CHECK (amount_usd > 0),
    period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'rolling')),
    rolling_hours int CHECK (rolling_hours IS NULL OR rolling_hours BETWEEN 1 AND 2160),
    thresholds int[] NOT NULL,
    hard_limit boolean NOT NULL,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name),
    CHECK ((period = 'rolling') = (rolling_hours IS NOT NULL))
);
CREATE INDEX budgets_team ON budgets (team_id);

-- Spend per budget and hour of the calls' timestamps; a period's spend is the sum over its hours.
CREATE TABLE budget_spend (
    budget_id uuid NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    hour timestamptz NOT NULL,
    spent_usd numeric(38, 12) NOT NULL DEFAULT 0,
    events bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_id, hour)
);

-- Which events a team's budgets have counted: a resent event id is never counted twice.
CREATE TABLE budget_admissions (
    team_id uuid NOT NULL,
    event_id text NOT NULL,
    admitted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, event_id)
);
CREATE INDEX budget_admissions_age ON budget_admissions (admitted_at);
