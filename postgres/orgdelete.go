package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// DeleteOrg removes an organisation and, with withDatasets, everything it
// holds, in one transaction. It locks in the one order (locks.go): the
// admin keys' lock, then the org's row FOR UPDATE, which also keeps any new
// reservation or dataset of the org out (their inserts wait, then find the
// org gone); then its resumable uploads, reservations, jobs and datasets,
// each set in key order. An upload or a validation that holds a row of the
// org meanwhile locked it after the org's row or holds nothing else
// DeleteOrg wants, so it finishes first (and what it made goes too) or
// finds its rows gone.
func (s *Store) DeleteOrg(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*silo.Dataset, error) {
	var removed []*silo.Dataset
	err := s.tx(ctx, func(tx pgx.Tx) error {
		removed = nil
		if err := lockAdminKeys(ctx, tx); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
			return err
		}
		if err := keepLastAdmin(ctx, tx, id); err != nil {
			return err
		}
		if !withDatasets {
			var busy bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM datasets WHERE org_id = $1)
				OR EXISTS (SELECT 1 FROM reservations WHERE org_id = $1)`, id).Scan(&busy)
			if err != nil {
				return err
			}
			if busy {
				return silo.Errorf(silo.ECONFLICT, "organization %s holds datasets", id)
			}
		}
		for _, q := range []string{
			// Resumable uploads before their reservations, as a PATCH
			// locks them (the upload's row, then its reservation's).
			`DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE org_id = $1 ORDER BY id FOR UPDATE)`,
			`DELETE FROM reservations WHERE id IN (SELECT id FROM reservations WHERE org_id = $1 ORDER BY id FOR UPDATE)`,
			// Jobs before their datasets, as the worker locks them.
			`DELETE FROM jobs WHERE dataset_id IN (SELECT dataset_id FROM jobs WHERE org_id = $1 ORDER BY dataset_id FOR UPDATE)`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `DELETE FROM datasets WHERE org_id = $1 RETURNING `+datasetCols, id)
		if err != nil {
			return err
		}
		if removed, err = sqlq.Collect(rows, scanDataset); err != nil {
			return err
		}
		if err := orgDeletedEvents(ctx, tx, id, removed); err != nil {
			return err
		}
		for _, q := range []string{
			// Every blob of the org, live or pending, is garbage now: the
			// sweep deletes it. Rows that are garbage already are left
			// alone: the sweep's ForgetBlobs may be deleting them.
			`UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE org_id = $1 AND state <> 'garbage'`,
			`DELETE FROM usage_samples WHERE org_id = $1`,
			`DELETE FROM project_usage_samples WHERE project_id IN (SELECT id FROM projects WHERE org_id = $1)`,
			`DELETE FROM projects WHERE org_id = $1`,
			`DELETE FROM idempotency WHERE org_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2`, micros(at), id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM orgs WHERE id = $1`, id)
		return err
	})
	return removed, err
}

// keepLastAdmin refuses (silo.ErrLastAdmin) to delete an org that holds an
// unrevoked admin key when no other org does. The caller holds the admin
// keys' lock (lockAdminKeys).
func keepLastAdmin(ctx context.Context, tx pgx.Tx, orgID string) error {
	var last bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE org_id = $1 AND role = 'admin' AND revoked_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM keys WHERE org_id <> $1 AND role = 'admin' AND revoked_at IS NULL)`, orgID).Scan(&last)
	if err != nil {
		return err
	}
	if last {
		return silo.ErrLastAdmin
	}
	return nil
}
