package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
)

var _ silo.LeaseStore = (*Store)(nil)

// DropReservation gives a reservation's bytes back and marks its blobs
// garbage, reporting whether there was a reservation to release. A
// non-zero expiredBefore asks for one whose lease ran out by the
// database's clock (dbclock.go).
func (s *Store) DropReservation(ctx context.Context, resID string, expiredBefore time.Time) (bool, error) {
	onlyExpired := !expiredBefore.IsZero()
	var dropped bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		dropped = false
		// The org's row first (locks.go). No reservation, or no org (a
		// purge released it): nothing to release.
		orgID, _, err := lockReservationOrg(ctx, tx, resID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		// A resumable upload's row before its reservation (locks.go), as
		// a PATCH's LockUpload and AdvanceUpload take them: taken the other
		// way round, a sweep and a PATCH of the same upload could each
		// wait for the other.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM uploads WHERE reservation_id = $1 FOR UPDATE`, resID); err != nil {
			return err
		}
		var bytes int64
		var projectID *string
		err = tx.QueryRow(ctx, `DELETE FROM reservations WHERE id = $1 AND (NOT $2 OR expires_at < `+dbNow+`) RETURNING bytes, project_id`,
			resID, onlyExpired).Scan(&bytes, &projectID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE reservation_id = $1`, resID); err != nil {
			return err
		}
		// A resumable upload whose reservation lapsed (it expired) goes with it.
		if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE reservation_id = $1`, resID); err != nil {
			return err
		}
		if err := count(ctx, tx, orgID, deref(projectID), 0, -bytes); err != nil {
			return err
		}
		dropped = true
		return nil
	})
	return dropped && err == nil, err
}

// RenewReservations extends the leases of live uploads' reservations.
func (s *Store) RenewReservations(ctx context.Context, ids []string, now, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	// In key order, as DeleteOrg takes them (locks.go).
	_, err := s.pool.Exec(ctx, `UPDATE reservations SET expires_at = `+dbNow+` + $1
		WHERE id IN (SELECT id FROM reservations WHERE id = ANY($2) ORDER BY id FOR UPDATE)`, span(now, until), ids)
	return mapErr(err)
}

// RenewJobs extends the leases of running validations.
func (s *Store) RenewJobs(ctx context.Context, jobs []*silo.Job, now, until time.Time) error {
	if len(jobs) == 0 {
		return nil
	}
	ids, owners, attempts := make([]string, len(jobs)), make([]string, len(jobs)), make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i], owners[i], attempts[i] = j.DatasetID, j.Owner, int64(j.Attempt)
	}
	// In key order, as DeleteOrg takes them (locks.go).
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET lease_until = `+dbNow+` + $1
		FROM unnest($2::text[], $3::text[], $4::bigint[]) AS l(dataset_id, owner, attempt)
		WHERE jobs.dataset_id = l.dataset_id AND jobs.owner = l.owner AND jobs.attempt = l.attempt
		  AND jobs.dataset_id IN (SELECT dataset_id FROM jobs WHERE dataset_id = ANY($2) ORDER BY dataset_id FOR UPDATE)`,
		span(now, until), ids, owners, attempts)
	return mapErr(err)
}

// RetryJob puts a job back in the queue from notBefore on.
func (s *Store) RetryJob(ctx context.Context, job *silo.Job, now, notBefore time.Time) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE jobs SET owner = NULL, lease_until = `+dbNow+` + $1 WHERE dataset_id = $2 AND owner = $3 AND attempt = $4`,
			span(now, notBefore), job.DatasetID, job.Owner, job.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = $1 AND state = 'pending' AND attempt = $2`,
			job.DatasetID, job.Attempt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE datasets SET status = $1, updated_at = $2 WHERE id = $3`,
			string(silo.StatusQueued), micros(time.Now()), job.DatasetID)
		return err
	})
}
