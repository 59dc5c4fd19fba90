package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// OpenReservation records an upload in flight holding no bytes yet,
// leased for ExpiresAt - CreatedAt from the database's clock (dbclock.go).
func (s *Store) OpenReservation(ctx context.Context, r *silo.Reservation) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reservations (id, org_id, node, bytes, created_at, expires_at, project_id) VALUES ($1, $2, $3, 0, $4, `+dbNow+` + $5, $6)`,
			r.ID, r.OrgID, r.Node, micros(r.CreatedAt), span(r.CreatedAt, r.ExpiresAt), nullString(r.ProjectID))
		return err
	})
}

// Reserve grows a reservation by between need and want bytes, within its
// org's quota and its project's (grantIn).
func (s *Store) Reserve(ctx context.Context, resID string, need, want int64) (int64, error) {
	var granted int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// A reservation step need not survive a crash (start-up and the
		// sweep release reservations anyway; what depends on it, the
		// dataset, commits synchronously and so flushes it too): its
		// commit does not wait for the WAL flush (issue 24: a streaming
		// create makes one per 8 MiB). Other nodes see it at once all the
		// same: visibility is the commit, not the flush.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		// The org's row, then the reservation, then the project's row
		// (locks.go). The reservation is locked so that a concurrent
		// release or create sees the bytes granted here, or they would
		// stay reserved forever.
		orgID, org, err := lockReservationOrg(ctx, tx, resID)
		if err != nil {
			return err
		}
		var projectID *string
		if err := tx.QueryRow(ctx, `SELECT project_id FROM reservations WHERE id = $1 FOR UPDATE`, resID).Scan(&projectID); err != nil {
			return err
		}
		if granted, err = grantIn(ctx, tx, org, orgID, deref(projectID), need, want); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE reservations SET bytes = bytes + $1 WHERE id = $2`, granted, resID)
		return err
	})
	return granted, err
}

func (s *Store) reservations(ctx context.Context, where string, args ...any) ([]*silo.Reservation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlq.ReservationCols+` FROM reservations `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, sqlq.ScanReservation))
}

// ExpiredReservations lists reservations whose lease ran out by the
// database's clock; the caller's now does not count (dbclock.go).
func (s *Store) ExpiredReservations(ctx context.Context, _ time.Time) ([]*silo.Reservation, error) {
	return s.reservations(ctx, `WHERE expires_at < `+dbNow)
}

// Reservations lists every open reservation.
func (s *Store) Reservations(ctx context.Context) ([]*silo.Reservation, error) {
	return s.reservations(ctx, "")
}
