package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/silo-datasets/silo"
)

// RecountUsage sets an org's counters to the sums of the rows they count.
// The write transaction excludes every create, delete and reservation.
func (s *Store) RecountUsage(ctx context.Context, orgID string) (*silo.Org, error) {
	var o *silo.Org
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = scanOrg(tx.QueryRowContext(ctx, `UPDATE orgs SET
			used_bytes = (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE org_id = ?1),
			reserved_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE org_id = ?1)
			WHERE id = ?1 RETURNING `+orgCols, orgID))
		return err
	})
	return o, err
}

// DiscardPendingBlobs marks garbage the pending blobs whose writer is dead:
// no reservation holds them and their job is gone, of another attempt, or
// has a lease that ran out before leaseBefore.
func (s *Store) DiscardPendingBlobs(ctx context.Context, leaseBefore time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage'
			WHERE state = 'pending'
			AND (reservation_id IS NULL OR reservation_id NOT IN (SELECT id FROM reservations))
			AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.dataset_id = blobs.dataset_id
				AND jobs.attempt = blobs.attempt AND jobs.lease_until >= ?)`, micros(leaseBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
