package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

const orgCols = `id, name, quota_bytes, used_bytes, reserved_bytes, created_at`

type scanner = sqlq.Scanner

func scanOrg(row scanner) (*silo.Org, error) {
	var o silo.Org
	var created int64
	if err := row.Scan(&o.ID, &o.Name, &o.QuotaBytes, &o.UsedBytes, &o.ReservedBytes, &created); err != nil {
		return nil, mapErr(err)
	}
	o.CreatedAt = fromMicros(created)
	return &o, nil
}

// CreateOrg stores a new organisation.
func (s *Store) CreateOrg(ctx context.Context, o *silo.Org) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertOrg(ctx, tx, o) })
}

func insertOrg(ctx context.Context, tx *sql.Tx, o *silo.Org) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO orgs (`+orgCols+`) VALUES (?, ?, ?, 0, 0, ?)`,
		o.ID, o.Name, o.QuotaBytes, micros(o.CreatedAt))
	return err
}

// Org returns one organisation with its counters.
func (s *Store) Org(ctx context.Context, id string) (*silo.Org, error) {
	return scanOrg(s.hot.org.QueryRowContext(ctx, id))
}

// Orgs lists every organisation, oldest first.
func (s *Store) Orgs(ctx context.Context) ([]*silo.Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	return sqlq.Collect(rows, scanOrg)
}

// SetQuota changes an organisation's quota.
func (s *Store) SetQuota(ctx context.Context, id string, quota int64) (*silo.Org, error) {
	var o *silo.Org
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = scanOrg(tx.QueryRowContext(ctx, `UPDATE orgs SET quota_bytes = ? WHERE id = ? RETURNING `+orgCols, quota, id))
		return err
	})
	return o, err
}

// UsageHistory returns up to limit of the newest samples since a moment,
// oldest first.
func (s *Store) UsageHistory(ctx context.Context, orgID string, since time.Time, limit int) ([]silo.UsageSample, error) {
	return s.history(ctx, "usage_samples", "org_id", orgID, since, limit)
}

// history reads the samples of table whose col is id (an org's, or a
// project's), the newest limit since a moment, oldest first.
func (s *Store) history(ctx context.Context, table, col, id string, since time.Time, limit int) ([]silo.UsageSample, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT at, used_bytes FROM `+table+` WHERE `+col+` = ? AND at >= ? ORDER BY at DESC LIMIT ?`,
		id, micros(since), limit)
	if err != nil {
		return nil, err
	}
	out, err := sqlq.Collect(rows, sqlq.ScanUsageSample)
	slices.Reverse(out) // newest first from the index, oldest first to the caller
	return out, err
}

// sampleUsage records the org's usage at at, and its project's if
// projectID is set.
func sampleUsage(ctx context.Context, tx *sql.Tx, orgID, projectID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO usage_samples (org_id, at, used_bytes) SELECT id, ?, used_bytes FROM orgs WHERE id = ?`,
		micros(at), orgID)
	if err != nil || projectID == "" {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO project_usage_samples (project_id, at, used_bytes) SELECT id, ?, used_bytes FROM projects WHERE id = ?`,
		micros(at), projectID)
	return err
}

const keyCols = `id, org_id, hash, role, name, created_at, revoked_at, project_id`

func scanKey(row scanner) (*silo.Key, error) {
	var k silo.Key
	var created int64
	var revoked sql.NullInt64
	var project sql.NullString
	if err := row.Scan(&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked, &project); err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt, k.ProjectID = fromMicros(created), fromNullMicros(revoked), project.String
	return &k, nil
}

// CreateKey stores a key (its hash).
func (s *Store) CreateKey(ctx context.Context, k *silo.Key) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertKey(ctx, tx, k) })
}

// insertKey stores a key of an existing org (and project) only: keys do
// not reference orgs or projects (a deleted one's keys stay, revoked), so
// the check is here, in the write transaction that DeleteOrg's and
// DeleteProject's cannot interleave with.
func insertKey(ctx context.Context, tx *sql.Tx, k *silo.Key) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO keys (`+keyCols+`) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
		WHERE EXISTS (SELECT 1 FROM orgs WHERE id = ?2)
		AND (?8 IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = ?8 AND org_id = ?2))`,
		k.ID, k.OrgID, k.Hash, k.Role, k.Name, micros(k.CreatedAt), nullMicros(k.RevokedAt), nullString(k.ProjectID))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if k.ProjectID != "" {
			return errors.Join(err, silo.Errorf(silo.ENOTFOUND, "project %s of organization %s not found", k.ProjectID, k.OrgID))
		}
		return errors.Join(err, silo.Errorf(silo.ENOTFOUND, "organization %s not found", k.OrgID))
	}
	return nil
}

// KeyByHash finds a key by the hash of its secret.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*silo.Key, error) {
	return scanKey(s.hot.keyByHash.QueryRowContext(ctx, hash))
}

// Keys lists the keys of one organisation, or of all.
func (s *Store) Keys(ctx context.Context, orgID string) ([]*silo.Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyCols+` FROM keys WHERE ? = '' OR org_id = ? ORDER BY created_at, id`, orgID, orgID)
	if err != nil {
		return nil, err
	}
	return sqlq.Collect(rows, scanKey)
}

// RevokeKey deny-lists a key; revoking twice keeps the first time. The
// last unrevoked admin key stays (silo.ErrLastAdmin); the write
// transaction makes the count and the change one step.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (*silo.Key, error) {
	var k *silo.Key
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var last bool
		err := tx.QueryRowContext(ctx, `SELECT role = 'admin' AND revoked_at IS NULL AND NOT EXISTS (
			SELECT 1 FROM keys o WHERE o.role = 'admin' AND o.revoked_at IS NULL AND o.id <> k.id)
			FROM keys k WHERE id = ?`, id).Scan(&last)
		if err != nil {
			return err
		}
		if last {
			return silo.ErrLastAdmin
		}
		k, err = scanKey(tx.QueryRowContext(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING `+keyCols, micros(at), id))
		return err
	})
	return k, err
}

// Bootstrap creates the first organisation and key if there is no key.
func (s *Store) Bootstrap(ctx context.Context, o *silo.Org, k *silo.Key) (bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM keys`).Scan(&n); err != nil || n > 0 {
			return err
		}
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT id FROM orgs WHERE name = ?`, o.Name).Scan(&existing)
		switch {
		case err == sql.ErrNoRows:
			if err := insertOrg(ctx, tx, o); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			*o = silo.Org{ID: existing, Name: o.Name}
			k.OrgID = existing
		}
		created = true
		return insertKey(ctx, tx, k)
	})
	return created, err
}
