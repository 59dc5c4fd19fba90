package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/silo-datasets/silo"
)

// ClaimJob takes the oldest job that is queued or whose lease ran out.
func (s *Store) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (*silo.Job, error) {
	var job *silo.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		j := silo.Job{Owner: owner, LeaseUntil: leaseUntil}
		err := tx.QueryRowContext(ctx, `UPDATE jobs SET owner = ?, lease_until = ?, attempt = attempt + 1
			WHERE dataset_id = (SELECT dataset_id FROM jobs WHERE lease_until < ? ORDER BY created_at, dataset_id LIMIT 1)
			RETURNING dataset_id, org_id, attempt`, owner, micros(leaseUntil), micros(now)).Scan(&j.DatasetID, &j.OrgID, &j.Attempt)
		if err == sql.ErrNoRows {
			return nil
		} else if err != nil {
			return err
		}
		// What an earlier attempt was writing is garbage now.
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = ? AND state = 'pending'`, j.DatasetID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE datasets SET status = ?, updated_at = ? WHERE id = ?`,
			silo.StatusProcessing, micros(now), j.DatasetID); err != nil {
			return err
		}
		job = &j
		return nil
	})
	return job, err
}

// AddJobBlob records a blob the job is about to write, if the job is still
// this attempt's.
func (s *Store) AddJobBlob(ctx context.Context, job *silo.Job, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blobs (key, org_id, state, dataset_id, attempt, created_at)
			SELECT ?, org_id, 'pending', dataset_id, attempt, ? FROM jobs WHERE dataset_id = ? AND owner = ? AND attempt = ?`,
			key, micros(time.Now()), job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// FinishJob records a validation outcome and ends the job.
func (s *Store) FinishJob(ctx context.Context, job *silo.Job, d *silo.Dataset) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE dataset_id = ? AND owner = ? AND attempt = ?`,
			job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		if _, err := tx.ExecContext(ctx, `UPDATE datasets SET status = ?, updated_at = ?, parts = ?, report = ? WHERE id = ?`,
			d.Status, micros(d.UpdatedAt), marshal(d.Parts), marshal(d.Report), d.ID); err != nil {
			return err
		}
		state := silo.BlobLive
		if d.Status != silo.StatusValidated {
			state = silo.BlobGarbage
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = ? WHERE dataset_id = ? AND state = 'pending' AND attempt = ?`,
			state, d.ID, job.Attempt); err != nil {
			return err
		}
		for _, p := range d.Parts {
			if p.OriginalDropped {
				if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage' WHERE key = ?`, p.BlobKey); err != nil {
					return err
				}
			}
		}
		return finishedEvent(ctx, tx, d)
	})
}

// RequeueJobs ends the leases of every job not owned by owner.
func (s *Store) RequeueJobs(ctx context.Context, owner string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = 0 WHERE owner IS NOT NULL AND owner <> ?`, owner)
		return err
	})
}

// PendingJobs counts unfinished jobs.
func (s *Store) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n)
	return n, err
}

// AddPendingBlob records a blob an upload is about to write, if its
// reservation still exists: a reservation a sweep released must not gain
// blobs that nothing would ever clean up.
func (s *Store) AddPendingBlob(ctx context.Context, resID, orgID, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO blobs (key, org_id, state, reservation_id, created_at)
			SELECT ?, org_id, 'pending', id, ? FROM reservations WHERE id = ? AND org_id = ?`,
			key, micros(time.Now()), resID, orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// HoldPendingBlobs holds the reservation's pending blobs until until. The
// store serves one process, whose clock until is on (silo.LeaseStore).
func (s *Store) HoldPendingBlobs(ctx context.Context, resID string, _, until time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE blobs SET hold_until = ? WHERE reservation_id = ? AND state = 'pending'`,
			micros(until), resID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows // released or committed: no pending blob is its any more
		}
		return nil
	})
}

// EndBlobHolds ends the holds of the given blobs.
func (s *Store) EndBlobHolds(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE blobs SET hold_until = 0 WHERE key IN (`+placeholders(len(keys))+`)`, args...)
		return err
	})
}

// GarbageBlobs lists blobs to delete whose hold ran out, in key order from
// after.
func (s *Store) GarbageBlobs(ctx context.Context, now time.Time, after string, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key FROM blobs WHERE state = 'garbage' AND key > ? AND hold_until <= ? ORDER BY key LIMIT ?`,
		after, micros(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ForgetBlobs drops the ledger rows of deleted garbage blobs. Only garbage
// rows go: a key that is live again is never forgotten.
func (s *Store) ForgetBlobs(ctx context.Context, keys []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for len(keys) > 0 {
			n := min(len(keys), 500)
			args := make([]any, n)
			for i, k := range keys[:n] {
				args[i] = k
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM blobs WHERE state = 'garbage' AND key IN (`+placeholders(n)+`)`, args...); err != nil {
				return err
			}
			keys = keys[n:]
		}
		return nil
	})
}

// Blobs calls fn with every ledger row.
func (s *Store) Blobs(ctx context.Context, fn func(key string, state silo.BlobState) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT key, state FROM blobs ORDER BY key`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var st silo.BlobState
		if err := rows.Scan(&k, &st); err != nil {
			return err
		}
		if err := fn(k, st); err != nil {
			return err
		}
	}
	return rows.Err()
}
