-- The schema of the SQLite store, in PostgreSQL's types. Timestamps are Unix
-- microseconds (BIGINT) in both stores, so that both round-trip times
-- identically. JSON (not JSONB) keeps documents byte for byte.

-- One row per organisation holds its exact usage (used_bytes) and the bytes
-- that uploads in flight hold (reserved_bytes): reading usage is one row, and
-- reserving is one conditional UPDATE of it.
CREATE TABLE orgs (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    quota_bytes    BIGINT NOT NULL,
    used_bytes     BIGINT NOT NULL DEFAULT 0,
    reserved_bytes BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

-- Keys are stored only as the SHA-256 of their secret.
CREATE TABLE keys (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    hash       BYTEA NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX keys_org ON keys (org_id);

-- An upload in flight, owned by a node until its lease runs out.
CREATE TABLE reservations (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    node       TEXT NOT NULL,
    bytes      BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX reservations_expiry ON reservations (expires_at);
CREATE INDEX reservations_node ON reservations (node);

-- Parts, the create parameters and the validation report are JSON: they are
-- read and written with their dataset, never queried on their own.
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    client_name TEXT NOT NULL DEFAULT '',
    size_bytes  BIGINT NOT NULL,
    params      JSON NOT NULL,
    parts       JSON NOT NULL,
    report      JSON NOT NULL
);
-- Lists are newest first; this index serves every page without a sort.
CREATE INDEX datasets_org_created ON datasets (org_id, created_at DESC, id DESC);
CREATE INDEX datasets_expiry ON datasets (expires_at) WHERE expires_at IS NOT NULL;

-- One validation job per dataset. lease_until 0 = queued.
CREATE TABLE jobs (
    dataset_id  TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    owner       TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);
CREATE INDEX jobs_lease ON jobs (lease_until, created_at);
CREATE INDEX jobs_owner ON jobs (owner);

-- The blob ledger: every key is recorded before its blob is written and
-- forgotten only after the blob is deleted, so nothing is ever orphaned.
CREATE TABLE blobs (
    key            TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    state          TEXT NOT NULL,
    reservation_id TEXT,
    dataset_id     TEXT,
    attempt        INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);
CREATE INDEX blobs_reservation ON blobs (reservation_id) WHERE reservation_id IS NOT NULL;
CREATE INDEX blobs_dataset ON blobs (dataset_id) WHERE dataset_id IS NOT NULL;
CREATE INDEX blobs_garbage ON blobs (state) WHERE state = 'garbage';

-- Usage over time: one sample per create or delete.
CREATE TABLE usage_samples (
    org_id     TEXT NOT NULL,
    at         BIGINT NOT NULL,
    used_bytes BIGINT NOT NULL
);
CREATE INDEX usage_samples_org_at ON usage_samples (org_id, at);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
