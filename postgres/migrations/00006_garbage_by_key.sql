-- The whole file runs as one migration (postgres/migrate.go has no Down).
-- The sweep pages through garbage in key order, past keys a backup pins
-- (GarbageBlobs' after): an index on the garbage keys themselves.
DROP INDEX blobs_garbage;
CREATE INDEX blobs_garbage ON blobs (key) WHERE state = 'garbage';
