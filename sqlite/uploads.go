package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

var _ silo.UploadStore = (*Store)(nil)

// reserveIn grants n bytes of orgID's quota inside tx, or refuses with the
// org's numbers. Inside the immediate transaction nothing else writes.
func reserveIn(ctx context.Context, tx *sql.Tx, orgID string, n int64) error {
	var qe silo.QuotaError
	err := tx.QueryRowContext(ctx, `SELECT quota_bytes, used_bytes, reserved_bytes FROM orgs WHERE id = ?`, orgID).
		Scan(&qe.LimitBytes, &qe.UsedBytes, &qe.ReservedBytes)
	if err != nil {
		return err
	}
	if qe.LimitBytes-qe.UsedBytes-qe.ReservedBytes < n {
		qe.RequestedBytes = n
		return &qe
	}
	_, err = tx.ExecContext(ctx, `UPDATE orgs SET reserved_bytes = reserved_bytes + ? WHERE id = ?`, n, orgID)
	return err
}

// CreateUpload stores an upload with its reservation of its whole length.
func (s *Store) CreateUpload(ctx context.Context, u *silo.ResumableUpload) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := reserveIn(ctx, tx, u.OrgID, u.Length); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, org_id, node, bytes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			u.ReservationID, u.OrgID, silo.ResumableNode, u.Length, micros(u.CreatedAt), micros(u.ExpiresAt))
		if err != nil {
			return err
		}
		if err := addPending(ctx, tx, u.ReservationID, u.OrgID, u.BlobKey, u.CreatedAt); err != nil {
			return err
		}
		return insertUpload(ctx, tx, u)
	})
}

func addPending(ctx context.Context, tx *sql.Tx, resID, orgID, key string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO blobs (key, org_id, state, reservation_id, created_at) VALUES (?, ?, 'pending', ?, ?)`,
		key, orgID, resID, micros(at))
	return err
}

func insertUpload(ctx context.Context, tx *sql.Tx, u *silo.ResumableUpload) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO uploads (`+sqlq.UploadCols+`) VALUES (`+placeholders(14)+`)`,
		u.ID, u.OrgID, u.KeyID, nullString(u.ReservationID), u.Length, u.Offset, u.Metadata, u.Partial, u.BlobKey,
		u.BlobState, u.HashState, nullString(u.DatasetID), micros(u.CreatedAt), micros(u.ExpiresAt))
	return err
}

// Upload returns one upload of one org.
func (s *Store) Upload(ctx context.Context, orgID, id string) (*silo.ResumableUpload, error) {
	u, err := sqlq.ScanUpload(s.r.QueryRowContext(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads WHERE id = ? AND org_id = ?`, id, orgID))
	return u, mapErr(err)
}

// Uploads lists the org's uploads that are not datasets.
func (s *Store) Uploads(ctx context.Context, orgID string) ([]*silo.ResumableUpload, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads WHERE org_id = ? AND dataset_id IS NULL ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, mapErr(err)
	}
	us, err := sqlq.Collect(rows, sqlq.ScanUpload)
	return us, mapErr(err)
}

// LockUpload takes the upload's lock for owner, on the caller's clock
// (the store serves one process).
func (s *Store) LockUpload(ctx context.Context, orgID, id, owner string, now, until time.Time) (*silo.ResumableUpload, error) {
	var u *silo.ResumableUpload
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = lockUpload(ctx, tx, orgID, id, owner, micros(until), micros(now))
		return err
	})
	return u, err
}

func lockUpload(ctx context.Context, tx *sql.Tx, orgID, id, owner string, until, now int64) (*silo.ResumableUpload, error) {
	u, err := sqlq.ScanUpload(tx.QueryRowContext(ctx, `UPDATE uploads SET lock_owner = ?, lock_until = ?
		WHERE id = ? AND org_id = ? AND (lock_owner IS NULL OR lock_owner = ? OR lock_until < ?) RETURNING `+sqlq.UploadCols,
		owner, until, id, orgID, owner, now))
	if err != sql.ErrNoRows {
		return u, err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM uploads WHERE id = ? AND org_id = ?)`, id, orgID).Scan(&exists); err != nil {
		return nil, err
	}
	if exists {
		return nil, silo.Errorf(silo.ELOCKED, "The upload %s is being written by another request; retry once it has ended.", id)
	}
	return nil, silo.Errorf(silo.ENOTFOUND, "upload not found")
}

// UnlockUpload lets go of owner's lock.
func (s *Store) UnlockUpload(ctx context.Context, id, owner string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE uploads SET lock_owner = NULL, lock_until = 0 WHERE id = ? AND lock_owner = ?`, id, owner)
		return err
	})
}

// UnlockUploads lets go of every lock (a restart of the sole process).
func (s *Store) UnlockUploads(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE uploads SET lock_owner = NULL, lock_until = 0 WHERE lock_owner IS NOT NULL`)
		return err
	})
}

// AdvanceUpload records the upload's new offset and state.
func (s *Store) AdvanceUpload(ctx context.Context, u *silo.ResumableUpload, owner string, from int64, _ time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE uploads SET upload_offset = ?, blob_state = ?, hash_state = ?, expires_at = ?
			WHERE id = ? AND lock_owner = ? AND upload_offset = ?`,
			u.Offset, u.BlobState, u.HashState, micros(u.ExpiresAt), u.ID, owner, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return sql.ErrNoRows
		}
		_, err = tx.ExecContext(ctx, `UPDATE reservations SET expires_at = ? WHERE id = ?`, micros(u.ExpiresAt), nullString(u.ReservationID))
		return err
	})
}

// DeleteUpload removes an upload, releasing what it holds.
func (s *Store) DeleteUpload(ctx context.Context, orgID, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var resID sql.NullString
		err := tx.QueryRowContext(ctx, `DELETE FROM uploads WHERE id = ? AND org_id = ? RETURNING reservation_id`, id, orgID).Scan(&resID)
		if err != nil {
			return err
		}
		if resID.Valid {
			_, err := releaseIn(ctx, tx, resID.String, 0)
			return err
		}
		return nil
	})
}

// releaseIn gives a reservation's bytes back and makes its blobs garbage,
// if its lease ran out before bound (0: whatever its lease); it reports
// whether there was one to release.
func releaseIn(ctx context.Context, tx *sql.Tx, resID string, bound int64) (bool, error) {
	var orgID string
	var bytes int64
	err := tx.QueryRowContext(ctx, `DELETE FROM reservations WHERE id = ?1 AND (?2 = 0 OR expires_at < ?2) RETURNING org_id, bytes`,
		resID, bound).Scan(&orgID, &bytes)
	if err == sql.ErrNoRows {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE orgs SET reserved_bytes = reserved_bytes - ? WHERE id = ?`, bytes, orgID); err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE reservation_id = ?`, resID)
	return err == nil, err
}

// ExpiredUploads lists uploads past their expiry.
func (s *Store) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]*silo.ResumableUpload, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads WHERE expires_at < ? ORDER BY expires_at LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	us, err := sqlq.Collect(rows, sqlq.ScanUpload)
	return us, mapErr(err)
}

// takeUploads locks, checks and returns the complete uploads ids of orgID
// for a concatenation (partial) or a dataset.
func takeUploads(ctx context.Context, tx *sql.Tx, orgID string, ids []string, partial bool) ([]*silo.ResumableUpload, error) {
	now := micros(time.Now())
	var us []*silo.ResumableUpload
	for _, id := range ids {
		u, err := sqlq.ScanUpload(tx.QueryRowContext(ctx, `SELECT `+sqlq.UploadCols+` FROM uploads WHERE id = ? AND org_id = ?`, id, orgID))
		if err != nil {
			return nil, err
		}
		if err := sqlq.CheckTaken(u, partial); err != nil {
			return nil, err
		}
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT lock_owner IS NOT NULL AND lock_until >= ? FROM uploads WHERE id = ?`, now, id).Scan(&locked); err != nil {
			return nil, err
		}
		if locked {
			return nil, silo.Errorf(silo.ECONFLICT, "The upload %s is still being written.", id)
		}
		us = append(us, u)
	}
	return us, nil
}

// mergeInto moves the reservations of us[1:] (bytes and blobs) into us[0]'s.
func mergeInto(ctx context.Context, tx *sql.Tx, us []*silo.ResumableUpload) error {
	for _, u := range us[1:] {
		var bytes int64
		if err := tx.QueryRowContext(ctx, `DELETE FROM reservations WHERE id = ? RETURNING bytes`, u.ReservationID).Scan(&bytes); err != nil {
			return fmt.Errorf("sqlite: reservation of upload %s: %w", u.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reservations SET bytes = bytes + ? WHERE id = ?`, bytes, us[0].ReservationID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET reservation_id = ? WHERE reservation_id = ?`, us[0].ReservationID, u.ReservationID); err != nil {
			return err
		}
	}
	return nil
}

// ConcatUploads makes final from complete partial uploads.
func (s *Store) ConcatUploads(ctx context.Context, final *silo.ResumableUpload, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
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
			if _, err := tx.ExecContext(ctx, `UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE key = ?`, u.BlobKey); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, u.ID); err != nil {
				return err
			}
		}
		final.ReservationID = us[0].ReservationID
		if _, err := tx.ExecContext(ctx, `UPDATE reservations SET expires_at = ? WHERE id = ?`, micros(final.ExpiresAt), final.ReservationID); err != nil {
			return err
		}
		return insertUpload(ctx, tx, final)
	})
}

// CreateDatasetFromUploads records a dataset made of complete uploads.
func (s *Store) CreateDatasetFromUploads(ctx context.Context, d *silo.Dataset, ids []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		us, err := takeUploads(ctx, tx, d.OrgID, ids, false)
		if err != nil {
			return err
		}
		if err := mergeInto(ctx, tx, us); err != nil {
			return err
		}
		for _, u := range us {
			if _, err := tx.ExecContext(ctx, `UPDATE uploads SET dataset_id = ?, reservation_id = NULL WHERE id = ?`, d.ID, u.ID); err != nil {
				return err
			}
		}
		return createDataset(ctx, tx, d, us[0].ReservationID)
	})
}
