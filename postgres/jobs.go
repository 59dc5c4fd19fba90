package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
)

// claimSQL takes the oldest claimable job. SKIP LOCKED lets nodes claim
// side by side: a job another node is claiming (or finishing, or whose
// dataset is being deleted) is passed over, not waited for. The outer
// WHERE repeats the lease check for the row as locked.
const claimSQL = `
UPDATE jobs SET owner = $1, lease_until = ` + dbNow + ` + $2, attempt = attempt + 1
WHERE dataset_id = (
    SELECT dataset_id FROM jobs WHERE lease_until < ` + dbNow + `
    ORDER BY created_at, dataset_id LIMIT 1
    FOR UPDATE SKIP LOCKED)
  AND lease_until < ` + dbNow + `
RETURNING dataset_id, org_id, attempt`

// ClaimJob takes the oldest job that is queued or whose lease ran out, by
// the database's clock (dbclock.go).
func (s *Store) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (*silo.Job, error) {
	var job *silo.Job
	err := s.tx(ctx, func(tx pgx.Tx) error {
		job = nil
		j := silo.Job{Owner: owner, LeaseUntil: leaseUntil}
		err := tx.QueryRow(ctx, claimSQL, owner, span(now, leaseUntil)).Scan(&j.DatasetID, &j.OrgID, &j.Attempt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE datasets SET status = $1, updated_at = $2 WHERE id = $3`,
			string(silo.StatusProcessing), micros(now), j.DatasetID); err != nil {
			return err
		}
		// What an earlier attempt was writing is garbage now.
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = $1 AND state = 'pending'`, j.DatasetID); err != nil {
			return err
		}
		job = &j
		return nil
	})
	return job, err
}

// AddJobBlob records a blob the job is about to write, if the job is still
// this attempt's. FOR SHARE holds the job row until the commit: a delete of
// the dataset or a new claim, which mark the job's pending blobs garbage,
// either waits for this row and marks it too, or has already removed or
// changed the job and nothing is inserted. A plain read would let the blob
// in after their update and leave it pending forever.
func (s *Store) AddJobBlob(ctx context.Context, job *silo.Job, key string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO blobs (key, org_id, state, dataset_id, attempt, created_at)
			SELECT $1, org_id, 'pending', dataset_id, attempt, $2 FROM jobs WHERE dataset_id = $3 AND owner = $4 AND attempt = $5
			FOR SHARE`,
			key, micros(time.Now()), job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return nil
	})
}

// FinishJob records a validation outcome and ends the job.
func (s *Store) FinishJob(ctx context.Context, job *silo.Job, d *silo.Dataset) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM jobs WHERE dataset_id = $1 AND owner = $2 AND attempt = $3`,
			job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `UPDATE datasets SET status = $1, updated_at = $2, parts = $3, report = $4 WHERE id = $5`,
			string(d.Status), micros(d.UpdatedAt), marshal(d.Parts), marshal(d.Report), d.ID); err != nil {
			return err
		}
		state := silo.BlobLive
		if d.Status != silo.StatusValidated {
			state = silo.BlobGarbage
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = $1 WHERE dataset_id = $2 AND state = 'pending' AND attempt = $3`,
			string(state), d.ID, job.Attempt); err != nil {
			return err
		}
		var dropped []string
		for _, p := range d.Parts {
			if p.OriginalDropped {
				dropped = append(dropped, p.BlobKey)
			}
		}
		if len(dropped) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage' WHERE key = ANY($1)`, dropped); err != nil {
				return err
			}
		}
		return finishedEvent(ctx, tx, d)
	})
}

// RequeueJobs ends the leases of every job not owned by owner.
func (s *Store) RequeueJobs(ctx context.Context, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET lease_until = 0 WHERE owner IS NOT NULL AND owner <> $1`, owner)
	return mapErr(err)
}

// PendingJobs counts unfinished jobs.
func (s *Store) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n)
	return n, mapErr(err)
}

// AddPendingBlob records a blob an upload is about to write, under its
// reservation. As in AddJobBlob, the reservation row is held FOR SHARE so
// that a concurrent release (a sweep that took this upload for dead) either
// sees the blob and marks it garbage, or has deleted the reservation and the
// upload learns it here (ENOTFOUND) instead of writing an orphan.
func (s *Store) AddPendingBlob(ctx context.Context, resID, orgID, key string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO blobs (key, org_id, state, reservation_id, created_at)
			SELECT $1, $2, 'pending', id, $4 FROM reservations WHERE id = $3 FOR SHARE`,
			key, orgID, resID, micros(time.Now()))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return nil
	})
}

// HoldPendingBlobs holds the reservation's pending blobs until until, on
// the database's clock (dbclock.go). The reservation is locked first, as a
// release and DeleteOrg lock it before its blobs.
func (s *Store) HoldPendingBlobs(ctx context.Context, resID string, now, until time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM reservations WHERE id = $1 FOR SHARE`, resID).Scan(&one); err != nil {
			return err // pgx.ErrNoRows: released or committed
		}
		tag, err := tx.Exec(ctx, `UPDATE blobs SET hold_until = `+dbNow+` + $1 WHERE reservation_id = $2 AND state = 'pending'`,
			span(now, until), resID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return nil
	})
}

// EndBlobHolds ends the holds of the given blobs.
func (s *Store) EndBlobHolds(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE blobs SET hold_until = 0 WHERE key = ANY($1)`, keys)
		return err
	})
}

// GarbageBlobs lists blobs to delete whose hold ran out by the database's
// clock, in key order from after.
func (s *Store) GarbageBlobs(ctx context.Context, _ time.Time, after string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT key FROM blobs WHERE state = 'garbage' AND key > $1 AND hold_until <= `+dbNow+` ORDER BY key LIMIT $2`, after, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(pgx.CollectRows(rows, pgx.RowTo[string]))
}

// ForgetBlobs drops the ledger rows of deleted garbage blobs. Only garbage
// rows go: a key that is live again is never forgotten.
func (s *Store) ForgetBlobs(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM blobs WHERE state = 'garbage' AND key = ANY($1)`, keys)
		return err
	})
}

// Blobs calls fn with every ledger row.
func (s *Store) Blobs(ctx context.Context, fn func(key string, state silo.BlobState) error) error {
	rows, err := s.pool.Query(ctx, `SELECT key, state FROM blobs ORDER BY key`)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, st string
		if err := rows.Scan(&k, &st); err != nil {
			return err
		}
		if err := fn(k, silo.BlobState(st)); err != nil {
			return err
		}
	}
	return mapErr(rows.Err())
}
