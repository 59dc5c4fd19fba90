-- The whole file runs as one migration (postgres/migrate.go has no Down).
-- hold_until (µs since the epoch, on the database's clock; 0: none): a
-- pending blob whose file has ended is held while its writer's last request
-- (an S3 PUT or CompleteMultipartUpload) may still land. Released meanwhile,
-- it becomes garbage that the sweep lists only once the hold ran out, so
-- that it is not deleted and forgotten before the object appears.
ALTER TABLE blobs ADD COLUMN hold_until BIGINT NOT NULL DEFAULT 0;
