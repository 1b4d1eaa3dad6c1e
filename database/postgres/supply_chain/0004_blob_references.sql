-- The blobs this schema's rows refer to (generated CycloneDX/SPDX documents, DSSE envelopes), read by
-- the ArtifactManagerAgent's orphan-blob sweep: the blob store is content-addressed and shared, so a
-- blob held only here must never be collected. This view is the schema's whole contract with it.
CREATE INDEX sboms_cyclonedx_sha256 ON sboms (cyclonedx_sha256);
CREATE INDEX sboms_spdx_sha256 ON sboms (spdx_sha256);
CREATE INDEX attestations_envelope_sha256 ON attestations (envelope_sha256);

CREATE VIEW blob_references AS
    SELECT cyclonedx_sha256 AS sha256 FROM sboms
    UNION ALL SELECT spdx_sha256 FROM sboms
    UNION ALL SELECT envelope_sha256 FROM attestations;
