-- Triage per product, as VEX and Dependency-Track allow: one decision about an advisory in a component
-- version for one product (a registry version, own or upstream, or an uploaded SBOM or lockfile),
-- which wins over the team-wide one (`triage`) for that product only: `not_affected` for one
-- application, `affected` for another. Kept apart from `triage`, so every team-wide reading of it
-- stays one row per finding; what applies to a finding is its product's row, else the team's.
--
-- `sboms.product` names what an SBOM describes: a registry version by ecosystem, name and version
-- (its SBOM may be replaced when its dependencies change; the decision stays with the version), any
-- other SBOM by its id. Ecosystems hold no '/' and versions no '/' or '@': the key is unambiguous.
ALTER TABLE sboms ADD COLUMN product text GENERATED ALWAYS AS (
    CASE WHEN source IN ('artifact', 'upstream') AND subject_version IS NOT NULL
        THEN 'version:' || subject_ecosystem || '/' || subject_name || '@' || subject_version
        ELSE 'sbom:' || id::text END
) STORED;

CREATE INDEX sboms_product ON sboms (team_id, product);

CREATE TABLE product_triage (
    team_id uuid NOT NULL,
    advisory_id text NOT NULL,
    purl text NOT NULL,
    product text NOT NULL,  -- the `sboms.product` it applies to
    -- What the product is, as the API names it: an SBOM (uploads, lockfiles) or a registry version.
    product_sbom_id uuid,
    product_ecosystem text,
    product_name text,
    product_version text,
    status text NOT NULL CHECK (status IN ('under_investigation', 'affected', 'not_affected', 'fixed')),
    justification text,
    impact_statement text,
    action_statement text,
    note text,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    history jsonb NOT NULL,  -- every transition: previous, decision, actor, at
    PRIMARY KEY (team_id, advisory_id, purl, product),
    CHECK ((product_sbom_id IS NULL) <> (product_version IS NULL))
);
