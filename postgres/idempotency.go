package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

var _ silo.IdempotencyStore = (*Store)(nil)

const idemCols = `org_id, key, fingerprint, state, claim, node, lease_until, reservation_id, status, body, dataset_id, created_at`

func scanIdem(row sqlq.Scanner) (*silo.IdempotencyRecord, error) {
	var r silo.IdempotencyRecord
	var lease, created int64
	var res, ds *string
	if err := row.Scan(&r.OrgID, &r.Key, &r.Fingerprint, &r.State, &r.Claim, &r.Node, &lease, &res, &r.Status, &r.Body, &ds, &created); err != nil {
		return nil, err
	}
	r.LeaseUntil, r.CreatedAt = fromMicros(lease), fromMicros(created)
	if ds != nil {
		r.DatasetID = *ds
	}
	return &r, nil
}

// ClaimIdempotency stores a running record unless a live or answered one
// is there; it takes over a running one whose holder is dead. The lease
// runs on the database's clock (dbclock.go); since, the end of the
// idempotency window, is not a lease and stays the caller's. Concurrent
// claims of one key on several nodes meet on the primary key: the INSERT
// of the second waits for the first's commit and then does nothing.
func (s *Store) ClaimIdempotency(ctx context.Context, rec *silo.IdempotencyRecord, now, since time.Time) (*silo.IdempotencyRecord, error) {
	var old *silo.IdempotencyRecord
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old = nil
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency WHERE org_id = $1 AND created_at < $2`, rec.OrgID, micros(since)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency (`+idemCols+`) VALUES ($1, $2, $3, 'running', $4, $5, `+dbNow+` + $6, NULL, 0, NULL, NULL, $7)
			ON CONFLICT (org_id, key) DO NOTHING`,
			rec.OrgID, rec.Key, rec.Fingerprint, rec.Claim, rec.Node, span(now, rec.LeaseUntil), micros(rec.CreatedAt))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		tag, err = tx.Exec(ctx, `UPDATE idempotency i SET claim = $1, node = $2, lease_until = `+dbNow+` + $3, reservation_id = NULL
			WHERE org_id = $4 AND key = $5 AND state = 'running' AND fingerprint = $6
			AND ((reservation_id IS NULL AND lease_until < `+dbNow+`)
			  OR (reservation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = i.reservation_id)))`,
			rec.Claim, rec.Node, span(now, rec.LeaseUntil), rec.OrgID, rec.Key, rec.Fingerprint)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		old, err = scanIdem(tx.QueryRow(ctx, `SELECT `+idemCols+` FROM idempotency WHERE org_id = $1 AND key = $2`, rec.OrgID, rec.Key))
		return err
	})
	return old, err
}

// idemUpdate runs an update of the running record a claim holds; a claim
// lost to a take-over is ENOTFOUND.
func (s *Store) idemUpdate(ctx context.Context, q string, args ...any) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return pgx.ErrNoRows
		}
		return nil
	})
}

// AttachIdempotency ties a running record to its upload's reservation.
func (s *Store) AttachIdempotency(ctx context.Context, orgID, key, claim, resID string) error {
	return s.idemUpdate(ctx, `UPDATE idempotency SET reservation_id = $1 WHERE org_id = $2 AND key = $3 AND claim = $4 AND state = 'running'`,
		resID, orgID, key, claim)
}

// FinishIdempotency stores the answer of a create that stored nothing.
func (s *Store) FinishIdempotency(ctx context.Context, orgID, key, claim string, status int, body []byte) error {
	return s.idemUpdate(ctx, `UPDATE idempotency SET state = 'done', status = $1, body = $2, reservation_id = NULL
		WHERE org_id = $3 AND key = $4 AND claim = $5 AND state = 'running'`, status, body, orgID, key, claim)
}

// ReleaseIdempotency deletes a running record.
func (s *Store) ReleaseIdempotency(ctx context.Context, orgID, key, claim string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency WHERE org_id = $1 AND key = $2 AND claim = $3 AND state = 'running'`, orgID, key, claim)
	return mapErr(err)
}

// markIdempotencyDone is the create transaction's part: the record whose
// upload holds the reservation becomes done with the dataset.
func markIdempotencyDone(ctx context.Context, tx pgx.Tx, d *silo.Dataset, resID string) error {
	if d.IdempotencyKey == "" {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE idempotency SET state = 'done', status = 200, dataset_id = $1, reservation_id = NULL
		WHERE org_id = $2 AND key = $3 AND reservation_id = $4 AND state = 'running'`, d.ID, d.OrgID, d.IdempotencyKey, resID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: the Idempotency-Key record of reservation %s is gone", resID)
	}
	return nil
}
