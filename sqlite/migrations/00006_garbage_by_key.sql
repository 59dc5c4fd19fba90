-- +goose Up
-- The sweep pages through garbage in key order, past keys a backup pins
-- (GarbageBlobs' after): an index on the garbage keys themselves.
DROP INDEX blobs_garbage;
CREATE INDEX blobs_garbage ON blobs (key) WHERE state = 'garbage';

-- +goose Down
DROP INDEX blobs_garbage;
CREATE INDEX blobs_garbage ON blobs (state) WHERE state = 'garbage';
