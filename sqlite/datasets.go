package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// OpenReservation records an upload in flight holding no bytes yet.
func (s *Store) OpenReservation(ctx context.Context, r *silo.Reservation) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, org_id, node, bytes, created_at, expires_at, project_id) VALUES (?, ?, ?, 0, ?, ?, ?)`,
			r.ID, r.OrgID, r.Node, micros(r.CreatedAt), micros(r.ExpiresAt), nullString(r.ProjectID))
		return err
	})
}

// Reserve grows a reservation by between need and want bytes, within its
// org's quota and its project's (grantIn).
func (s *Store) Reserve(ctx context.Context, resID string, need, want int64) (int64, error) {
	var granted int64
	err := s.txNoSync(ctx, func(tx *sql.Tx) error {
		var orgID string
		var projectID sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT org_id, project_id FROM reservations WHERE id = ?`, resID).Scan(&orgID, &projectID); err != nil {
			return err
		}
		var err error
		if granted, err = grantIn(ctx, tx, orgID, projectID.String, need, want); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE reservations SET bytes = bytes + ? WHERE id = ?`, granted, resID)
		return err
	})
	return granted, err
}

// leaseBound is an expiry bound in microseconds; 0 means none.
func leaseBound(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func (s *Store) reservations(ctx context.Context, where string, args ...any) ([]*silo.Reservation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.ReservationCols+` FROM reservations `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	return sqlq.Collect(rows, sqlq.ScanReservation)
}

// ExpiredReservations lists reservations whose lease ran out before now.
func (s *Store) ExpiredReservations(ctx context.Context, now time.Time) ([]*silo.Reservation, error) {
	return s.reservations(ctx, `WHERE expires_at < ?`, micros(now))
}

// Reservations lists every open reservation.
func (s *Store) Reservations(ctx context.Context) ([]*silo.Reservation, error) {
	return s.reservations(ctx, "")
}

const datasetCols = sqlq.DatasetCols

func scanDataset(row scanner) (*silo.Dataset, error) {
	var d silo.Dataset
	var created, updated int64
	var expires sql.NullInt64
	var params, parts, report string
	var keyID, projectID sql.NullString
	err := row.Scan(&d.ID, &d.OrgID, &d.Name, &d.Type, &d.Status, &created, &updated, &expires,
		&d.ClientName, &d.SizeBytes, &params, &parts, &report, &keyID, &projectID)
	if err != nil {
		return nil, mapErr(err)
	}
	d.CreatedAt, d.UpdatedAt, d.ExpiresAt = fromMicros(created), fromMicros(updated), fromNullMicros(expires)
	d.KeyID, d.ProjectID = keyID.String, projectID.String
	if err := unmarshalAll(params, &d.Params, parts, &d.Parts, report, &d.Report); err != nil {
		return nil, fmt.Errorf("sqlite: dataset %s: %w", d.ID, err)
	}
	return &d, nil
}

func unmarshalAll(pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		if err := json.Unmarshal([]byte(pairs[i].(string)), pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return string(b)
}

// CreateDataset records a dataset and moves its reservation's bytes to used.
func (s *Store) CreateDataset(ctx context.Context, d *silo.Dataset, resID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return createDataset(ctx, tx, d, resID) })
}

// createDataset is CreateDataset inside tx.
func createDataset(ctx context.Context, tx *sql.Tx, d *silo.Dataset, resID string) error {
	var orgID string
	var projectID sql.NullString
	var held int64
	err := tx.QueryRowContext(ctx, `DELETE FROM reservations WHERE id = ? RETURNING org_id, project_id, bytes`, resID).Scan(&orgID, &projectID, &held)
	if err != nil {
		return err
	}
	if orgID != d.OrgID || projectID.String != d.ProjectID {
		return fmt.Errorf("sqlite: reservation %s is of org %s project %q, not %s project %q", resID, orgID, projectID.String, d.OrgID, d.ProjectID)
	}
	if err := markIdempotencyDone(ctx, tx, d, resID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO datasets (`+datasetCols+`) VALUES (`+placeholders(15)+`)`,
		d.ID, d.OrgID, d.Name, d.Type, d.Status, micros(d.CreatedAt), micros(d.UpdatedAt), nullMicros(d.ExpiresAt),
		d.ClientName, d.SizeBytes, marshal(d.Params), marshal(d.Parts), marshal(d.Report), nullString(d.KeyID), nullString(d.ProjectID))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (dataset_id, org_id, created_at) VALUES (?, ?, ?)`,
		d.ID, d.OrgID, micros(d.CreatedAt)); err != nil {
		return err
	}
	// The parts' blobs become live; any other blob still pending under
	// the reservation (the final blob of a concatenation that failed, and
	// was asked again) is garbage: nothing refers to it.
	if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'live', dataset_id = ?, reservation_id = NULL, hold_until = 0
		WHERE reservation_id = ? AND key IN (SELECT value FROM json_each(?))`, d.ID, resID, marshal(sqlq.LiveKeys(d))); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE reservation_id = ?`, resID); err != nil {
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
	return scanDataset(s.r.QueryRowContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = ? AND org_id = ?`, id, orgID))
}

// Datasets streams the datasets a filter selects, newest first.
func (s *Store) Datasets(ctx context.Context, f silo.DatasetFilter, fn func(*silo.Dataset) error) error {
	q, args := sqlq.DatasetQuery(datasetCols, f, func(int) string { return "?" })
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	return sqlq.Each(rows, scanDataset, fn)
}

// DeleteDataset removes a dataset and subtracts its bytes from usage.
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
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDataset(tx.QueryRowContext(ctx, `DELETE FROM datasets WHERE id = ? AND org_id = ? RETURNING `+datasetCols, id, orgID))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE dataset_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = ?`, id); err != nil {
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE expires_at IS NOT NULL AND expires_at < ? ORDER BY expires_at LIMIT ?`,
		micros(now), limit)
	if err != nil {
		return nil, err
	}
	return sqlq.Collect(rows, scanDataset)
}

// UsageSums sums dataset sizes per organisation, the slow way, for fsck.
func (s *Store) UsageSums(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT org_id, SUM(size_bytes) FROM datasets GROUP BY org_id`)
	if err != nil {
		return nil, err
	}
	return sqlq.SumsByOrg(rows)
}

// nullString stores "" as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
