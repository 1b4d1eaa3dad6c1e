-- Spend and token-rate anomalies found per team and model (services/anomalies), for the dashboard
-- and the alert history. One row per team, metric, model and hour: the detector may run anywhere.
CREATE TABLE anomalies (
    team_id uuid NOT NULL,
    metric text NOT NULL CHECK (metric IN ('cost_usd', 'tokens')),
    model text NOT NULL,
    hour timestamptz NOT NULL,
    observed double precision NOT NULL,
    expected double precision NOT NULL,
    score double precision NOT NULL,
    direction text NOT NULL CHECK (direction IN ('spike', 'drop')),
    found_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, metric, model, hour)
);
