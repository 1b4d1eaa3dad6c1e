-- Licences as SPDX ids (services/registry/licenses.py): every id a version's licence names (an SPDX
-- expression's licences and exceptions, a free-text name or a Python classifier read as its id),
-- written at publish. The package holds its shown version's, as it holds its `license`, and the
-- search's licence filter is array containment on it (`license_ids @> ARRAY['MIT']`), GIN indexed.
--
-- NULL: not normalised yet. The rows of before this migration are filled by the ArtifactManagerAgent
-- (`services/registry/license_backfill.py`, a periodic job, one replica at a time: reading Python
-- classifiers needs each version's core metadata from the blob store, which SQL cannot); until then
-- the filter compares their licence text, as it did.
ALTER TABLE versions ADD COLUMN license_ids text[];
ALTER TABLE packages ADD COLUMN license_ids text[];

CREATE INDEX packages_license_ids ON packages USING gin (license_ids);
-- What the backfill has left to do, found without reading every row once it is done.
CREATE INDEX versions_license_ids_pending ON versions (id) WHERE license_ids IS NULL;
CREATE INDEX packages_license_ids_pending ON packages (id) WHERE license_ids IS NULL;
