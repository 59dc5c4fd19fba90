package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/silo-datasets/silo"
)

var _ silo.LeaseStore = (*Store)(nil)

// DropReservation gives a reservation's bytes back and marks its blobs
// garbage, reporting whether there was a reservation to release.
func (s *Store) DropReservation(ctx context.Context, resID string, expiredBefore time.Time) (bool, error) {
	var dropped bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if dropped, err = releaseIn(ctx, tx, resID, leaseBound(expiredBefore)); err != nil || !dropped {
			return err
		}
		// A resumable upload whose reservation lapsed (it expired) goes with it.
		_, err = tx.ExecContext(ctx, `DELETE FROM uploads WHERE reservation_id = ?`, resID)
		return err
	})
	return dropped && err == nil, err
}

// RenewReservations extends the leases of live uploads' reservations. The
// store serves one process, whose clock until is on (silo.LeaseStore).
func (s *Store) RenewReservations(ctx context.Context, ids []string, _, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			args := []any{micros(until)}
			for _, id := range ids[:n] {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE reservations SET expires_at = ? WHERE id IN (`+placeholders(n)+`)`, args...); err != nil {
				return err
			}
			ids = ids[n:]
		}
		return nil
	})
}

// RenewJobs extends the leases of running validations.
func (s *Store) RenewJobs(ctx context.Context, jobs []*silo.Job, _, until time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, j := range jobs {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_until = ? WHERE dataset_id = ? AND owner = ? AND attempt = ?`,
				micros(until), j.DatasetID, j.Owner, j.Attempt); err != nil {
				return err
			}
		}
		return nil
	})
}

// RetryJob puts a job back in the queue from notBefore on.
func (s *Store) RetryJob(ctx context.Context, job *silo.Job, _, notBefore time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET owner = NULL, lease_until = ? WHERE dataset_id = ? AND owner = ? AND attempt = ?`,
			micros(notBefore), job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = ? AND state = 'pending' AND attempt = ?`,
			job.DatasetID, job.Attempt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE datasets SET status = ?, updated_at = ? WHERE id = ?`,
			silo.StatusQueued, micros(time.Now()), job.DatasetID)
		return err
	})
}
