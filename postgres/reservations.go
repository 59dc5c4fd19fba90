package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// OpenReservation records an upload in flight holding no bytes yet,
// leased for ExpiresAt - CreatedAt from the database's clock (dbclock.go).
func (s *Store) OpenReservation(ctx context.Context, r *silo.Reservation) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO reservations (id, org_id, node, bytes, created_at, expires_at) VALUES ($1, $2, $3, 0, $4, `+dbNow+` + $5)`,
			r.ID, r.OrgID, r.Node, micros(r.CreatedAt), span(r.CreatedAt, r.ExpiresAt))
		return err
	})
}

// reserveSQL is the quota check and the grant in one conditional UPDATE.
// Under READ COMMITTED, an UPDATE that finds its row changed by a
// concurrent commit re-evaluates the WHERE and the SET on the newest
// version, so the check can never act on a stale count, on any node.
// The locking subquery only captures the pre-update reserved_bytes (the
// row is locked, so no one changes it in between): RETURNING sees only the
// new row, and the grant is new minus old.
const reserveSQL = `
UPDATE orgs o
SET reserved_bytes = o.reserved_bytes + LEAST($3::BIGINT, o.quota_bytes - o.used_bytes - o.reserved_bytes)
FROM (SELECT id, reserved_bytes FROM orgs WHERE id = $1 FOR NO KEY UPDATE) old
WHERE o.id = old.id AND o.quota_bytes - o.used_bytes - o.reserved_bytes >= $2::BIGINT
RETURNING o.reserved_bytes - old.reserved_bytes`

// Reserve grows a reservation by between need and want bytes.
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
		// The org's row, then the reservation (locks.go). The reservation
		// is locked so that a concurrent release or create sees the bytes
		// granted here, or they would stay reserved forever.
		orgID, err := lockReservationOrg(ctx, tx, resID)
		if err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE`, resID).Scan(&one); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, reserveSQL, orgID, need, want).Scan(&granted)
		if errors.Is(err, pgx.ErrNoRows) {
			// Refused. Lock the org's row and read its numbers: the refusal
			// names them, and they must be numbers that do not fit. If a
			// release made room since, the retried UPDATE, under the lock,
			// grants it.
			if qe := quotaError(ctx, tx, orgID, need); qe != nil {
				return qe
			}
			err = tx.QueryRow(ctx, reserveSQL, orgID, need, want).Scan(&granted)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE reservations SET bytes = bytes + $1 WHERE id = $2`, granted, resID)
		return err
	})
	return granted, err
}

// quotaError locks the org's row and returns the refusal of need bytes with
// its numbers, or nil if need fits after all.
func quotaError(ctx context.Context, tx pgx.Tx, orgID string, need int64) error {
	var qe silo.QuotaError
	err := tx.QueryRow(ctx, `SELECT quota_bytes, used_bytes, reserved_bytes FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, orgID).
		Scan(&qe.LimitBytes, &qe.UsedBytes, &qe.ReservedBytes)
	if err != nil {
		return fmt.Errorf("postgres: reservation of a missing org %s: %w", orgID, err)
	}
	if qe.LimitBytes-qe.UsedBytes-qe.ReservedBytes >= need {
		return nil
	}
	qe.RequestedBytes = need
	return &qe
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
