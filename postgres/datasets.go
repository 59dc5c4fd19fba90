package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

const datasetCols = sqlq.DatasetCols

func scanDataset(row sqlq.Scanner) (*silo.Dataset, error) {
	var d silo.Dataset
	var created, updated int64
	var expires *int64
	var params, parts, report []byte
	var keyID, projectID *string
	err := row.Scan(&d.ID, &d.OrgID, &d.Name, &d.Type, &d.Status, &created, &updated, &expires,
		&d.ClientName, &d.SizeBytes, &params, &parts, &report, &keyID, &projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	d.CreatedAt, d.UpdatedAt, d.ExpiresAt = fromMicros(created), fromMicros(updated), fromNullMicros(expires)
	d.KeyID, d.ProjectID = deref(keyID), deref(projectID)
	for _, f := range []struct {
		b []byte
		v any
	}{{params, &d.Params}, {parts, &d.Parts}, {report, &d.Report}} {
		if err := json.Unmarshal(f.b, f.v); err != nil {
			return nil, fmt.Errorf("postgres: dataset %s: %w", d.ID, err)
		}
	}
	return &d, nil
}

// marshal renders v as the text of a JSON column (pgx sends a string
// as is; a []byte would go as bytea).
func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return string(b)
}

// CreateDataset records a dataset and moves its reservation's bytes to used.
// It returns nil if and only if the dataset was stored (see txKnown).
func (s *Store) CreateDataset(ctx context.Context, d *silo.Dataset, resID string) error {
	return s.txKnown(ctx, func(tx pgx.Tx) error {
		// The org's row first (locks.go): gone, the org took the
		// reservation with it (ENOTFOUND).
		if err := lockOrg(ctx, tx, d.OrgID); err != nil {
			return err
		}
		return createDataset(ctx, tx, d, resID)
	})
}

// createDataset is CreateDataset inside tx, which holds the org's row
// lock already (lockOrg: the one lock order).
func createDataset(ctx context.Context, tx pgx.Tx, d *silo.Dataset, resID string) error {
	var orgID string
	var projectID *string
	var held int64
	err := tx.QueryRow(ctx, `DELETE FROM reservations WHERE id = $1 RETURNING org_id, project_id, bytes`, resID).Scan(&orgID, &projectID, &held)
	if err != nil {
		return err
	}
	if orgID != d.OrgID || deref(projectID) != d.ProjectID {
		return fmt.Errorf("postgres: reservation %s is of org %s project %q, not %s project %q", resID, orgID, deref(projectID), d.OrgID, d.ProjectID)
	}
	if err := markIdempotencyDone(ctx, tx, d, resID); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO datasets (`+datasetCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		d.ID, d.OrgID, d.Name, string(d.Type), string(d.Status), micros(d.CreatedAt), micros(d.UpdatedAt), nullMicros(d.ExpiresAt),
		d.ClientName, d.SizeBytes, marshal(d.Params), marshal(d.Parts), marshal(d.Report), nullString(d.KeyID), nullString(d.ProjectID))
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO jobs (dataset_id, org_id, created_at) VALUES ($1, $2, $3)`,
		d.ID, d.OrgID, micros(d.CreatedAt)); err != nil {
		return err
	}
	// The parts' blobs become live; any other blob still pending under
	// the reservation (the final blob of a concatenation that failed, and
	// was asked again) is garbage: nothing refers to it.
	if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'live', dataset_id = $1, reservation_id = NULL, hold_until = 0
		WHERE reservation_id = $2 AND key = ANY($3)`, d.ID, resID, sqlq.LiveKeys(d)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE reservation_id = $1`, resID); err != nil {
		return err
	}
	if err := count(ctx, tx, d.OrgID, d.ProjectID, d.SizeBytes, -held); err != nil {
		return err
	}
	if err := createdEvents(ctx, tx, d); err != nil {
		return err
	}
	return sampleUsage(ctx, tx, d.OrgID, d.ProjectID, d.CreatedAt)
}

// Dataset returns one dataset of one organisation.
func (s *Store) Dataset(ctx context.Context, orgID, id string) (*silo.Dataset, error) {
	return scanDataset(s.pool.QueryRow(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1 AND org_id = $2`, id, orgID))
}

// Datasets streams the datasets a filter selects, newest first. pgx reads
// the result as fn consumes it, so a large list is never held in memory.
func (s *Store) Datasets(ctx context.Context, f silo.DatasetFilter, fn func(*silo.Dataset) error) error {
	q, args := sqlq.DatasetQuery(datasetCols, f, func(n int) string { return "$" + strconv.Itoa(n) })
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return mapErr(err)
	}
	// Only the store's own errors are mapped: fn's (the client's) pass as
	// they are.
	var fnErr error
	err = sqlq.Each(rows, scanDataset, func(d *silo.Dataset) error {
		fnErr = fn(d)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return mapErr(err)
}

// DeleteDataset removes a dataset and subtracts its bytes from usage; nil if
// and only if it did (see txKnown). It locks in the one order (locks.go):
// the org's row, then the job (as the job calls do: job, then dataset),
// then the dataset.
func (s *Store) DeleteDataset(ctx context.Context, orgID, id string) (*silo.Dataset, error) {
	return s.deleteDataset(ctx, orgID, id, silo.ReasonDeleted)
}

// ExpireDataset is DeleteDataset for the retention sweep.
func (s *Store) ExpireDataset(ctx context.Context, orgID, id string) (*silo.Dataset, error) {
	return s.deleteDataset(ctx, orgID, id, silo.ReasonExpired)
}

// deleteDataset removes a dataset; its event gives reason.
func (s *Store) deleteDataset(ctx context.Context, orgID, id, reason string) (*silo.Dataset, error) {
	var d *silo.Dataset
	err := s.txKnown(ctx, func(tx pgx.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE dataset_id = $1 AND org_id = $2`, id, orgID); err != nil {
			return err
		}
		var err error
		d, err = scanDataset(tx.QueryRow(ctx, `DELETE FROM datasets WHERE id = $1 AND org_id = $2 RETURNING `+datasetCols, id, orgID))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = $1`, id); err != nil {
			return err
		}
		if err := count(ctx, tx, orgID, d.ProjectID, -d.SizeBytes, 0); err != nil {
			return err
		}
		if err := deletedEvents(ctx, tx, d, reason); err != nil {
			return err
		}
		return sampleUsage(ctx, tx, orgID, d.ProjectID, time.Now())
	})
	return d, err
}

// ExpiredDatasets lists datasets past their retention.
func (s *Store) ExpiredDatasets(ctx context.Context, now time.Time, limit int) ([]*silo.Dataset, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+datasetCols+` FROM datasets WHERE expires_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at, id LIMIT $2`,
		micros(now), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, scanDataset))
}

// UsageSums sums dataset sizes per organisation, the slow way, for fsck.
func (s *Store) UsageSums(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT org_id, SUM(size_bytes)::BIGINT FROM datasets GROUP BY org_id`)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.SumsByOrg(rows))
}

// deref reads a nullable text column: NULL is "".
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nullString stores "" as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
