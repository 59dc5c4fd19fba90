-- The highest usage.threshold a project's usage has crossed (events,
-- migration 00009, has the org's): each crossing upward fires once.
ALTER TABLE projects ADD COLUMN threshold_percent INTEGER NOT NULL DEFAULT 0;
