-- +goose Up
-- hold_until (µs since the epoch; 0: none): a pending blob whose file has
-- ended is held while its writer's last request (an S3 PUT or
-- CompleteMultipartUpload) may still land. Released meanwhile, it becomes
-- garbage that the sweep lists only once the hold ran out, so that it is
-- not deleted and forgotten before the object appears.
ALTER TABLE blobs ADD COLUMN hold_until INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE blobs DROP COLUMN hold_until;
