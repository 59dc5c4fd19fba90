-- +goose Up
-- Webhooks (CONTRACT "Events: signed webhooks"): endpoints, the outbox of
-- events written in the transaction of the change they report, and one
-- delivery per event and matching endpoint, fanned out in that same
-- transaction. Times are µs since the epoch.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    org_id      TEXT,                        -- NULL: an operator's endpoint for every organisation
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,               -- JSON array of event types; [] = all
    description TEXT NOT NULL DEFAULT '',
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_org ON webhooks (org_id);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order (of one dataset's changes)
    id         TEXT NOT NULL UNIQUE,
    org_id     TEXT NOT NULL,
    project_id TEXT,
    type       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    dataset_id TEXT,
    time       INTEGER NOT NULL,
    body       TEXT NOT NULL                 -- silo.EventData as JSON: the data as of the change
);

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq        INTEGER NOT NULL,
    event_id         TEXT NOT NULL,
    webhook_id       TEXT NOT NULL,
    dataset_id       TEXT,                   -- the event's, for the order per dataset
    type             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    UNIQUE (event_id, webhook_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, event_seq) WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (webhook_id, dataset_id, event_seq) WHERE status = 'pending';
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

-- The highest usage threshold (80, 95, 100) the org's usage has crossed
-- and not fallen back below: each crossing is one usage.threshold event.
ALTER TABLE orgs ADD COLUMN threshold_percent INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE orgs DROP COLUMN threshold_percent;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE webhooks;
