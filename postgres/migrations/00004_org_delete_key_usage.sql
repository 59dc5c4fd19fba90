-- The whole file runs as one migration (postgres/migrate.go has no Down).
-- The API key that created each dataset, for the usage breakdown by key
-- (the organisation's "users"). Datasets created before this have none and
-- are shown as "unknown".
ALTER TABLE datasets ADD COLUMN key_id TEXT;
CREATE INDEX datasets_org_key ON datasets (org_id, key_id);

-- An organisation can be deleted while its keys stay, revoked: a deleted
-- org's key then answers "revoked" (498) rather than "unknown" (401). So
-- keys no longer reference orgs.
ALTER TABLE keys DROP CONSTRAINT IF EXISTS keys_org_id_fkey;
