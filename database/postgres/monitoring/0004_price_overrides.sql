-- Team price overrides (services/token_costs/overrides_store.py) and the record of each re-pricing run.
-- Teams live in the SuperAgent's schema: team_id has no foreign key; every query is scoped by it, and
-- the team-data purge deletes by it.

-- The fields of services.pricing.overrides.PriceOverride. Prices are exact USD per million tokens;
-- `numeric` without a scale keeps the value as entered (10, not 10.000000), which matters because a
-- discount appears in the price version of every event it priced.
-- A deleted override is kept (deleted_at set) so the price versions of events it priced still resolve.
CREATE TABLE price_overrides (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL,
    provider text NOT NULL,
    model_pattern text NOT NULL,
    effective_from timestamptz NOT NULL,
    effective_to timestamptz,
    input_per_mtok numeric CHECK (input_per_mtok >= 0),
    output_per_mtok numeric CHECK (output_per_mtok >= 0),
    cache_read_per_mtok numeric CHECK (cache_read_per_mtok >= 0),
    cache_write_per_mtok numeric CHECK (cache_write_per_mtok >= 0),
    discount_percent numeric CHECK (discount_percent BETWEEN 0 AND 100),
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by text,
    CHECK (effective_to IS NULL OR effective_to > effective_from),
    -- Per-token prices (input and output at least) or a discount, never both.
    CHECK ((input_per_mtok IS NULL) = (output_per_mtok IS NULL)),
    CHECK ((input_per_mtok IS NULL) <> (discount_percent IS NULL)),
    CHECK (discount_percent IS NULL OR (cache_read_per_mtok IS NULL AND cache_write_per_mtok IS NULL))
);
CREATE INDEX price_overrides_team ON price_overrides (team_id, created_at);

-- One row per re-pricing: who asked, for what range and filters, and what it changed. `running` rows
-- whose process died stay `running`; their events may be partly re-priced (a new run completes them).
CREATE TABLE reprice_runs (
    id uuid PRIMARY KEY,
    team_id uuid NOT NULL,
    requested_by text,
    since timestamptz NOT NULL,
    until timestamptz NOT NULL,
    provider text,
    model text,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    events_scanned bigint NOT NULL DEFAULT 0,
    events_repriced bigint NOT NULL DEFAULT 0,
    before_total_usd numeric(38, 12),
    after_total_usd numeric(38, 12),
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK (until > since)
);
CREATE INDEX reprice_runs_team ON reprice_runs (team_id, started_at DESC);
