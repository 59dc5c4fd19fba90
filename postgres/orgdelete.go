package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// DeleteOrg removes an organisation and, with withDatasets, everything it
// holds, in one transaction. It locks the org's reservations before the
// org's row, in the order Reserve and CreateDataset take them, so that an
// upload committing meanwhile either finishes first (and its dataset goes
// too) or finds its reservation gone; a deadlock the order still allows is
// retried by tx.
func (s *Store) DeleteOrg(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*silo.Dataset, error) {
	var removed []*silo.Dataset
	err := s.tx(ctx, func(tx pgx.Tx) error {
		removed = nil
		if _, err := tx.Exec(ctx, `SELECT id FROM reservations WHERE org_id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
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
		rows, err := tx.Query(ctx, `DELETE FROM datasets WHERE org_id = $1 RETURNING `+datasetCols, id)
		if err != nil {
			return err
		}
		if removed, err = sqlq.Collect(rows, scanDataset); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM jobs WHERE org_id = $1`,
			`DELETE FROM uploads WHERE org_id = $1`,
			`DELETE FROM reservations WHERE org_id = $1`,
			// Every blob of the org, live or pending, is garbage now: the
			// sweep deletes what the service's own delete after this misses.
			`UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE org_id = $1`,
			`DELETE FROM usage_samples WHERE org_id = $1`,
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
