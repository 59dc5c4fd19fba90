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

var _ silo.UploadStore = (*Store)(nil)

// CreateUpload stores an upload with its reservation of its whole length:
// the grant is reserveSQL's conditional UPDATE, so concurrent uploads on
// any number of nodes never take the org over its quota. The upload's
// expiry, and its reservation's lease with it, run on the database's clock
// (dbclock.go), counted from u.CreatedAt.
func (s *Store) CreateUpload(ctx context.Context, u *silo.ResumableUpload) error {
	return s.txKnown(ctx, func(tx pgx.Tx) error {
		var granted int64
		err := tx.QueryRow(ctx, reserveSQL, u.OrgID, u.Length, u.Length).Scan(&granted)
		if errors.Is(err, pgx.ErrNoRows) {
			if qe := quotaError(ctx, tx, u.OrgID, u.Length); qe != nil {
				return qe
			}
			err = tx.QueryRow(ctx, reserveSQL, u.OrgID, u.Length, u.Length).Scan(&granted)
		}
		if err != nil {
			return err
		}
		if granted != u.Length {
			return fmt.Errorf("postgres: reserved %d bytes of %d", granted, u.Length)
		}
		_, err = tx.Exec(ctx, `INSERT INTO reservations (id, org_id, node, bytes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, `+dbNow+` + $6)`,
			u.ReservationID, u.OrgID, silo.ResumableNode, u.Length, micros(u.CreatedAt), span(u.CreatedAt, u.ExpiresAt))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO blobs (key, org_id, state, reservation_id, created_at) VALUES ($1, $2, 'pending', $3, $4)`,
			u.BlobKey, u.OrgID, u.ReservationID, micros(u.CreatedAt))
		if err != nil {
			return err
		}
		return insertUpload(ctx, tx, u)
	})
}

// insertUpload stores u, its expiry counted from u.CreatedAt on the
// database's clock.
func insertUpload(ctx context.Context, tx pgx.Tx, u *silo.ResumableUpload) error {
	_, err := tx.Exec(ctx, `INSERT INTO uploads (`+sqlq.UploadCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, `+dbNow+` + $14)`,
		u.ID, u.OrgID, u.KeyID, nullString(u.ReservationID), u.Length, u.Offset, u.Metadata, u.Partial, u.BlobKey,
		u.BlobState, u.HashState, nullString(u.DatasetID), micros(u.CreatedAt), span(u.CreatedAt, u.ExpiresAt))
	return err
}

// Upload returns one upload of one org.
func (s *Store) Upload(ctx context.Context, orgID, id string) (*silo.ResumableUpload, error) {
	return mapped(sqlq.ScanUpload(s.pool.QueryRow(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads WHERE id = $1 AND org_id = $2`, id, orgID)))
}

// Uploads lists the org's uploads that are not datasets.
func (s *Store) Uploads(ctx context.Context, orgID string) ([]*silo.ResumableUpload, error) {
	return s.uploads(ctx, `WHERE org_id = $1 AND dataset_id IS NULL ORDER BY created_at, id`, orgID)
}

func (s *Store) uploads(ctx context.Context, where string, args ...any) ([]*silo.ResumableUpload, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads `+where, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, sqlq.ScanUpload))
}

// LockUpload takes the upload's lock for owner, a lease on the database's
// clock (dbclock.go).
func (s *Store) LockUpload(ctx context.Context, orgID, id, owner string, now, until time.Time) (*silo.ResumableUpload, error) {
	var u *silo.ResumableUpload
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = sqlq.ScanUpload(tx.QueryRow(ctx, `UPDATE uploads SET lock_owner = $1, lock_until = `+dbNow+` + $2
			WHERE id = $3 AND org_id = $4 AND (lock_owner IS NULL OR lock_owner = $1 OR lock_until < `+dbNow+`) RETURNING `+sqlq.UploadCols,
			owner, span(now, until), id, orgID))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1 AND org_id = $2)`, id, orgID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return silo.Errorf(silo.ELOCKED, "The upload %s is being written by another request; retry once it has ended.", id)
		}
		return silo.Errorf(silo.ENOTFOUND, "upload not found")
	})
	return u, err
}

// UnlockUpload lets go of owner's lock.
func (s *Store) UnlockUpload(ctx context.Context, id, owner string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE uploads SET lock_owner = NULL, lock_until = 0 WHERE id = $1 AND lock_owner = $2`, id, owner)
		return err
	})
}

// UnlockUploads lets go of every lock.
func (s *Store) UnlockUploads(ctx context.Context) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE uploads SET lock_owner = NULL, lock_until = 0 WHERE lock_owner IS NOT NULL`)
		return err
	})
}

// AdvanceUpload records the upload's new offset and state. Its outcome is
// learnt when the answer to the commit is lost (txKnown): an offset is
// answered only once it is known to be stored.
func (s *Store) AdvanceUpload(ctx context.Context, u *silo.ResumableUpload, owner string, from int64, now time.Time) error {
	return s.txKnown(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE uploads SET upload_offset = $1, blob_state = $2, hash_state = $3, expires_at = `+dbNow+` + $4
			WHERE id = $5 AND lock_owner = $6 AND upload_offset = $7`,
			u.Offset, u.BlobState, u.HashState, span(now, u.ExpiresAt), u.ID, owner, from)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return pgx.ErrNoRows
		}
		_, err = tx.Exec(ctx, `UPDATE reservations r SET expires_at = u.expires_at FROM uploads u WHERE u.id = $1 AND r.id = u.reservation_id`, u.ID)
		return err
	})
}

// DeleteUpload removes an upload, releasing what it holds.
func (s *Store) DeleteUpload(ctx context.Context, orgID, id string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		// The org's row first (locks.go): this gives bytes back.
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		var resID *string
		err := tx.QueryRow(ctx, `DELETE FROM uploads WHERE id = $1 AND org_id = $2 RETURNING reservation_id`, id, orgID).Scan(&resID)
		if err != nil || resID == nil {
			return err
		}
		var bytes int64
		err = tx.QueryRow(ctx, `DELETE FROM reservations WHERE id = $1 RETURNING bytes`, *resID).Scan(&bytes)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orgs SET reserved_bytes = reserved_bytes - $1 WHERE id = $2`, bytes, orgID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE reservation_id = $1`, *resID)
		return err
	})
}

// ExpiredUploads lists uploads past their expiry by the database's clock;
// the caller's now does not count (dbclock.go).
func (s *Store) ExpiredUploads(ctx context.Context, _ time.Time, limit int) ([]*silo.ResumableUpload, error) {
	return s.uploads(ctx, `WHERE expires_at < `+dbNow+` ORDER BY expires_at LIMIT $1`, limit)
}

// takeUploads locks (in the order given: the caller's part order), checks
// and returns the complete uploads ids of orgID.
func takeUploads(ctx context.Context, tx pgx.Tx, orgID string, ids []string, partial bool) ([]*silo.ResumableUpload, error) {
	var us []*silo.ResumableUpload
	for _, id := range ids {
		var locked bool
		row := tx.QueryRow(ctx, `SELECT `+sqlq.UploadCols+`, lock_owner IS NOT NULL AND lock_until >= `+dbNow+`
			FROM uploads WHERE id = $1 AND org_id = $2 FOR UPDATE`, id, orgID)
		u, err := sqlq.ScanUpload(scanPlus{row, &locked})
		if err != nil {
			return nil, err
		}
		if err := sqlq.CheckTaken(u, partial); err != nil {
			return nil, err
		}
		if locked {
			return nil, silo.Errorf(silo.ECONFLICT, "The upload %s is still being written.", id)
		}
		us = append(us, u)
	}
	return us, nil
}

// scanPlus scans one more column after those its caller names.
type scanPlus struct {
	row  sqlq.Scanner
	more any
}

func (s scanPlus) Scan(dest ...any) error { return s.row.Scan(append(dest, s.more)...) }

// mergeInto moves the reservations of us[1:] (bytes and blobs) into us[0]'s.
func mergeInto(ctx context.Context, tx pgx.Tx, us []*silo.ResumableUpload) error {
	for _, u := range us[1:] {
		var bytes int64
		if err := tx.QueryRow(ctx, `DELETE FROM reservations WHERE id = $1 RETURNING bytes`, u.ReservationID).Scan(&bytes); err != nil {
			return fmt.Errorf("postgres: reservation of upload %s: %w", u.ID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET bytes = bytes + $1 WHERE id = $2`, bytes, us[0].ReservationID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET reservation_id = $1 WHERE reservation_id = $2`, us[0].ReservationID, u.ReservationID); err != nil {
			return err
		}
	}
	return nil
}

// ConcatUploads makes final from complete partial uploads.
func (s *Store) ConcatUploads(ctx context.Context, final *silo.ResumableUpload, ids []string) error {
	return s.txKnown(ctx, func(tx pgx.Tx) error {
		// The org's row first (locks.go), then the uploads and their
		// reservations.
		if err := lockOrg(ctx, tx, final.OrgID); err != nil {
			return err
		}
		us, err := takeUploads(ctx, tx, final.OrgID, ids, true)
		if err != nil {
			return err
		}
		if err := sqlq.CheckConcat(final, us); err != nil {
			return err
		}
		if err := mergeInto(ctx, tx, us); err != nil {
			return err
		}
		for _, u := range us {
			if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE key = $1`, u.BlobKey); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, u.ID); err != nil {
				return err
			}
		}
		final.ReservationID = us[0].ReservationID
		if _, err := tx.Exec(ctx, `UPDATE reservations SET expires_at = `+dbNow+` + $1 WHERE id = $2`, span(final.CreatedAt, final.ExpiresAt), final.ReservationID); err != nil {
			return err
		}
		return insertUpload(ctx, tx, final)
	})
}

// CreateDatasetFromUploads records a dataset made of complete uploads.
func (s *Store) CreateDatasetFromUploads(ctx context.Context, d *silo.Dataset, ids []string) error {
	return s.txKnown(ctx, func(tx pgx.Tx) error {
		// The org's row first (locks.go), then the uploads and their
		// reservations, then the dataset (createDataset).
		if err := lockOrg(ctx, tx, d.OrgID); err != nil {
			return err
		}
		us, err := takeUploads(ctx, tx, d.OrgID, ids, false)
		if err != nil {
			return err
		}
		if err := mergeInto(ctx, tx, us); err != nil {
			return err
		}
		for _, u := range us {
			if _, err := tx.Exec(ctx, `UPDATE uploads SET dataset_id = $1, reservation_id = NULL WHERE id = $2`, d.ID, u.ID); err != nil {
				return err
			}
		}
		return createDataset(ctx, tx, d, us[0].ReservationID)
	})
}
