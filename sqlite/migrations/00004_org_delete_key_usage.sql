-- +goose Up
-- The API key that created each dataset, for the usage breakdown by key
-- (the organisation's "users"). Datasets created before this have none and
-- are shown as "unknown".
ALTER TABLE datasets ADD COLUMN key_id TEXT;
CREATE INDEX datasets_org_key ON datasets (org_id, key_id);

-- An organisation can be deleted while its keys stay, revoked: a deleted
-- org's key then answers "revoked" (498) rather than "unknown" (401). So
-- keys no longer reference orgs. SQLite drops a foreign key only by
-- rebuilding the table; nothing references keys, so this is safe with
-- foreign_keys on.
CREATE TABLE keys_new (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
INSERT INTO keys_new (id, org_id, hash, role, name, created_at, revoked_at)
    SELECT id, org_id, hash, role, name, created_at, revoked_at FROM keys;
DROP TABLE keys;
ALTER TABLE keys_new RENAME TO keys;
CREATE INDEX keys_org ON keys (org_id);

-- +goose Down
DROP INDEX datasets_org_key;
ALTER TABLE datasets DROP COLUMN key_id;
