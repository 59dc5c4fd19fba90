-- +goose Up
-- The answers of creates sent with an Idempotency-Key, one row per key and
-- organisation. A running row belongs to the request whose claim it holds:
-- while it has no reservation until lease_until, then as long as its
-- reservation exists. A done row holds the answer: the dataset id of a 200
-- (written by the create's own transaction), or the status and body of a
-- refusal.
CREATE TABLE idempotency (
    org_id         TEXT NOT NULL,
    key            TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    state          TEXT NOT NULL,
    claim          TEXT NOT NULL,
    node           TEXT NOT NULL,
    lease_until    INTEGER NOT NULL,
    reservation_id TEXT,
    status         INTEGER NOT NULL DEFAULT 0,
    body           BLOB,
    dataset_id     TEXT,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_created ON idempotency (org_id, created_at);

-- +goose Down
DROP TABLE idempotency;
