package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/silo-datasets/silo"
)

var _ silo.IdempotencyStore = (*Store)(nil)

const idemCols = `org_id, key, fingerprint, state, claim, node, lease_until, reservation_id, status, body, dataset_id, created_at`

func scanIdem(row scanner) (*silo.IdempotencyRecord, error) {
	var r silo.IdempotencyRecord
	var lease, created int64
	var res, ds sql.NullString
	if err := row.Scan(&r.OrgID, &r.Key, &r.Fingerprint, &r.State, &r.Claim, &r.Node, &lease, &res, &r.Status, &r.Body, &ds, &created); err != nil {
		return nil, err
	}
	r.LeaseUntil, r.CreatedAt, r.DatasetID = fromMicros(lease), fromMicros(created), ds.String
	return &r, nil
}

// ClaimIdempotency stores a running record unless a live or answered one
// is there; it takes over a running one whose holder is dead.
func (s *Store) ClaimIdempotency(ctx context.Context, rec *silo.IdempotencyRecord, now, since time.Time) (*silo.IdempotencyRecord, error) {
	var old *silo.IdempotencyRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old = nil
		// A deleted org gets no new record (ENOTFOUND), as in PostgreSQL.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = ?`, rec.OrgID).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE org_id = ? AND created_at < ?`, rec.OrgID, micros(since)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES (?, ?, ?, 'running', ?, ?, ?, NULL, 0, NULL, NULL, ?)
			ON CONFLICT (org_id, key) DO NOTHING`,
			rec.OrgID, rec.Key, rec.Fingerprint, rec.Claim, rec.Node, micros(rec.LeaseUntil), micros(rec.CreatedAt))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		// Take over a running record whose holder died: no reservation
		// and an expired lease, or a reservation that is gone.
		res, err = tx.ExecContext(ctx, `UPDATE idempotency SET claim = ?, node = ?, lease_until = ?, reservation_id = NULL
			WHERE org_id = ? AND key = ? AND state = 'running' AND fingerprint = ?
			AND ((reservation_id IS NULL AND lease_until < ?)
			  OR (reservation_id IS NOT NULL AND reservation_id NOT IN (SELECT id FROM reservations)))`,
			rec.Claim, rec.Node, micros(rec.LeaseUntil), rec.OrgID, rec.Key, rec.Fingerprint, micros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		old, err = scanIdem(tx.QueryRowContext(ctx, `SELECT `+idemCols+` FROM idempotency WHERE org_id = ? AND key = ?`, rec.OrgID, rec.Key))
		return err
	})
	return old, err
}

// idemUpdate runs an update of the running record a claim holds; the claim
// lost to a take-over is ENOTFOUND.
func (s *Store) idemUpdate(ctx context.Context, q string, args ...any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sql.ErrNoRows
		}
		return nil
	})
}

// AttachIdempotency ties a running record to its upload's reservation.
func (s *Store) AttachIdempotency(ctx context.Context, orgID, key, claim, resID string) error {
	return s.idemUpdate(ctx, `UPDATE idempotency SET reservation_id = ? WHERE org_id = ? AND key = ? AND claim = ? AND state = 'running'`,
		resID, orgID, key, claim)
}

// FinishIdempotency stores the answer of a create that stored nothing.
func (s *Store) FinishIdempotency(ctx context.Context, orgID, key, claim string, status int, body []byte) error {
	return s.idemUpdate(ctx, `UPDATE idempotency SET state = 'done', status = ?, body = ?, reservation_id = NULL
		WHERE org_id = ? AND key = ? AND claim = ? AND state = 'running'`, status, body, orgID, key, claim)
}

// ReleaseIdempotency deletes a running record.
func (s *Store) ReleaseIdempotency(ctx context.Context, orgID, key, claim string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM idempotency WHERE org_id = ? AND key = ? AND claim = ? AND state = 'running'`, orgID, key, claim)
	return err
}

// markIdempotencyDone is the create transaction's part: the record whose
// upload holds the reservation becomes done with the dataset.
func markIdempotencyDone(ctx context.Context, tx *sql.Tx, d *silo.Dataset, resID string) error {
	if d.IdempotencyKey == "" {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE idempotency SET state = 'done', status = 200, dataset_id = ?, reservation_id = NULL
		WHERE org_id = ? AND key = ? AND reservation_id = ? AND state = 'running'`, d.ID, d.OrgID, d.IdempotencyKey, resID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("sqlite: the Idempotency-Key record of reservation %s is gone", resID)
	}
	return nil
}
