-- Product decisions withdrawn (`POST /api/v1/vulnerabilities/{id}/triage/withdraw`): the team-wide
-- decision applies to the product again. The row leaves `product_triage`, so every reading of what
-- applies (`store.EFFECTIVE_TRIAGE`: lists, VEX exports, the download policy) stays a join on live
-- decisions with no filter to forget; it is kept here whole, history and all, beside the findings it
-- was about: what was once stated about a product stays this agent's record, not only an entry of
-- the SuperAgent's audit log. The same key may be decided and withdrawn more than once.
CREATE TABLE product_triage_withdrawn (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id uuid NOT NULL,
    advisory_id text NOT NULL,
    purl text NOT NULL,
    product text NOT NULL,
    product_sbom_id uuid,
    product_ecosystem text,
    product_name text,
    product_version text,
    status text NOT NULL,
    justification text,
    impact_statement text,
    action_statement text,
    note text,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    history jsonb NOT NULL,
    withdrawn_by text NOT NULL,
    withdrawn_at timestamptz NOT NULL
);

CREATE INDEX product_triage_withdrawn_key ON product_triage_withdrawn (team_id, advisory_id, purl, product);
