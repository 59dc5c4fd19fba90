-- Resumable (tus) uploads. An upload holds its whole length against the
-- quota through its reservation (node 'tus') until a dataset takes the
-- bytes (reservation_id NULL, dataset_id set) or it is terminated or
-- expires. blob_state and hash_state move with upload_offset, in one
-- write: the blob store's record of the pieces and the SHA-256 so far.
-- lock_owner/lock_until serialise the PATCHes of one upload across nodes.
CREATE TABLE uploads (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs (id),
    key_id         TEXT NOT NULL,
    reservation_id TEXT,
    upload_length  BIGINT NOT NULL,
    upload_offset  BIGINT NOT NULL DEFAULT 0,
    metadata       TEXT NOT NULL DEFAULT '',
    partial        BOOLEAN NOT NULL DEFAULT FALSE,
    blob_key       TEXT NOT NULL,
    blob_state     BYTEA,
    hash_state     BYTEA,
    dataset_id     TEXT,
    lock_owner     TEXT,
    lock_until     BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX uploads_org ON uploads (org_id, created_at);
CREATE INDEX uploads_expiry ON uploads (expires_at);
CREATE INDEX uploads_reservation ON uploads (reservation_id) WHERE reservation_id IS NOT NULL;
