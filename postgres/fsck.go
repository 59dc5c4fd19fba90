package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
)

// RecountUsage sets an org's counters to the sums of the rows they count.
// The org's row is locked first: every create, delete and reservation
// updates that row last, so one that has not committed yet is blocked
// until the recount is done and then applies its own change to the
// recounted value; the sums, read by a later statement, see everything
// committed before.
func (s *Store) RecountUsage(ctx context.Context, orgID string) (*silo.Org, error) {
	var o *silo.Org
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `SELECT id FROM orgs WHERE id = $1 FOR UPDATE`, orgID).Scan(&id); err != nil {
			return err
		}
		var err error
		o, err = scanOrg(tx.QueryRow(ctx, `UPDATE orgs SET
			used_bytes = (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE org_id = $1),
			reserved_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE org_id = $1)
			WHERE id = $1 RETURNING `+orgCols, orgID))
		return err
	})
	return o, err
}

// DiscardPendingBlobs marks garbage the pending blobs whose writer is dead:
// no reservation holds them and their job is gone, of another attempt, or
// has a lease that ran out, by the database's clock (dbclock.go): fsck's
// own clock, leaseBefore, may run ahead of the nodes'.
func (s *Store) DiscardPendingBlobs(ctx context.Context, _ time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage'
			WHERE state = 'pending'
			AND (reservation_id IS NULL OR NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = blobs.reservation_id))
			AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.dataset_id = blobs.dataset_id
				AND jobs.attempt = blobs.attempt AND jobs.lease_until >= `+dbNow+`)`)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
