-- +goose Up
-- Projects: quotas inside an organisation (CONTRACT "Projects"). A
-- project's row holds its exact usage and what its uploads in flight
-- reserve, as the org's row does, and both change in the same
-- transactions. quota_bytes NULL: no limit but the org's.
CREATE TABLE projects (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs (id),
    name           TEXT NOT NULL,
    quota_bytes    INTEGER,
    used_bytes     INTEGER NOT NULL DEFAULT 0,
    reserved_bytes INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

-- What belongs to a project says so; NULL: the organisation's own. No
-- foreign keys: a deleted project's keys stay, revoked (as a deleted org's
-- do), and the store's transactions keep the rest consistent.
ALTER TABLE keys ADD COLUMN project_id TEXT;
ALTER TABLE reservations ADD COLUMN project_id TEXT;
ALTER TABLE datasets ADD COLUMN project_id TEXT;
ALTER TABLE uploads ADD COLUMN project_id TEXT;
-- A project key's lists, newest first, without a sort.
CREATE INDEX datasets_project_created ON datasets (project_id, created_at DESC, id DESC) WHERE project_id IS NOT NULL;
CREATE INDEX keys_project ON keys (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX reservations_project ON reservations (project_id) WHERE project_id IS NOT NULL;

-- Usage over time per project: one sample per create or delete in it.
CREATE TABLE project_usage_samples (
    project_id TEXT NOT NULL,
    at         INTEGER NOT NULL,
    used_bytes INTEGER NOT NULL
);
CREATE INDEX project_usage_samples_at ON project_usage_samples (project_id, at);

-- +goose Down
DROP TABLE project_usage_samples;
DROP INDEX reservations_project;
DROP INDEX keys_project;
DROP INDEX datasets_project_created;
ALTER TABLE uploads DROP COLUMN project_id;
ALTER TABLE datasets DROP COLUMN project_id;
ALTER TABLE reservations DROP COLUMN project_id;
ALTER TABLE keys DROP COLUMN project_id;
DROP TABLE projects;
