package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// DeleteOrg removes an organisation and, with withDatasets, everything it
// holds, in one immediate transaction: no client ever sees it half gone.
func (s *Store) DeleteOrg(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*silo.Dataset, error) {
	var removed []*silo.Dataset
	err := s.tx(ctx, func(tx *sql.Tx) error {
		removed = nil
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = ?`, id).Scan(&one); err != nil {
			return err
		}
		if err := keepLastAdmin(ctx, tx, id); err != nil {
			return err
		}
		if !withDatasets {
			var busy bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM datasets WHERE org_id = ?1)
				OR EXISTS (SELECT 1 FROM reservations WHERE org_id = ?1)`, id).Scan(&busy)
			if err != nil {
				return err
			}
			if busy {
				return silo.Errorf(silo.ECONFLICT, "organization %s holds datasets", id)
			}
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM datasets WHERE org_id = ? RETURNING `+datasetCols, id)
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
			`DELETE FROM jobs WHERE org_id = ?`,
			`DELETE FROM uploads WHERE org_id = ?`,
			`DELETE FROM reservations WHERE org_id = ?`,
			// Every blob of the org, live or pending, is garbage now: the
			// sweep deletes what the service's own delete after this misses.
			`UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE org_id = ?`,
			`DELETE FROM usage_samples WHERE org_id = ?`,
			`DELETE FROM project_usage_samples WHERE project_id IN (SELECT id FROM projects WHERE org_id = ?)`,
			`DELETE FROM projects WHERE org_id = ?`,
			`DELETE FROM idempotency WHERE org_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE org_id = ?`, micros(at), id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM orgs WHERE id = ?`, id)
		return err
	})
	return removed, err
}

// keepLastAdmin refuses (silo.ErrLastAdmin) to delete an org that holds an
// unrevoked admin key when no other org does.
func keepLastAdmin(ctx context.Context, tx *sql.Tx, orgID string) error {
	var last bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM keys WHERE org_id = ?1 AND role = 'admin' AND revoked_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM keys WHERE org_id <> ?1 AND role = 'admin' AND revoked_at IS NULL)`, orgID).Scan(&last)
	if err != nil {
		return err
	}
	if last {
		return silo.ErrLastAdmin
	}
	return nil
}
