package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

const orgCols = `id, name, quota_bytes, used_bytes, reserved_bytes, created_at`

func scanOrg(row sqlq.Scanner) (*silo.Org, error) {
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
	return s.tx(ctx, func(tx pgx.Tx) error { return insertOrg(ctx, tx, o) })
}

func insertOrg(ctx context.Context, tx pgx.Tx, o *silo.Org) error {
	_, err := tx.Exec(ctx, `INSERT INTO orgs (`+orgCols+`) VALUES ($1, $2, $3, 0, 0, $4)`,
		o.ID, o.Name, o.QuotaBytes, micros(o.CreatedAt))
	return err
}

// Org returns one organisation with its counters.
func (s *Store) Org(ctx context.Context, id string) (*silo.Org, error) {
	return scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM orgs WHERE id = $1`, id))
}

// Orgs lists every organisation, oldest first.
func (s *Store) Orgs(ctx context.Context) ([]*silo.Org, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, scanOrg))
}

// SetQuota changes an organisation's quota.
func (s *Store) SetQuota(ctx context.Context, id string, quota int64) (*silo.Org, error) {
	var o *silo.Org
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		o, err = scanOrg(tx.QueryRow(ctx, `UPDATE orgs SET quota_bytes = $1 WHERE id = $2 RETURNING `+orgCols, quota, id))
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
	rows, err := s.pool.Query(ctx, `SELECT at, used_bytes FROM `+table+` WHERE `+col+` = $1 AND at >= $2 ORDER BY at DESC LIMIT $3`,
		id, micros(since), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := sqlq.Collect(rows, sqlq.ScanUsageSample)
	slices.Reverse(out) // newest first from the index, oldest first to the caller
	return out, mapErr(err)
}

// sampleUsage records the org's usage at at, and its project's if
// projectID is set.
func sampleUsage(ctx context.Context, tx pgx.Tx, orgID, projectID string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO usage_samples (org_id, at, used_bytes) SELECT id, $1, used_bytes FROM orgs WHERE id = $2`,
		micros(at), orgID)
	if err != nil || projectID == "" {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO project_usage_samples (project_id, at, used_bytes) SELECT id, $1, used_bytes FROM projects WHERE id = $2`,
		micros(at), projectID)
	return err
}

const keyCols = `id, org_id, hash, role, name, created_at, revoked_at, project_id`

func scanKey(row sqlq.Scanner) (*silo.Key, error) {
	var k silo.Key
	var created int64
	var revoked *int64
	var project *string
	if err := row.Scan(&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked, &project); err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt, k.ProjectID = fromMicros(created), fromNullMicros(revoked), deref(project)
	return &k, nil
}

// CreateKey stores a key (its hash).
func (s *Store) CreateKey(ctx context.Context, k *silo.Key) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return insertKey(ctx, tx, k) })
}

// insertKey stores a key of an existing org (and project) only: keys do
// not reference orgs or projects (a deleted one's keys stay, revoked), so
// the org's row, and the project's, are locked (FOR SHARE) until the key
// is in, and a concurrent DeleteOrg or DeleteProject either waits for this
// key (and revokes it) or has removed them first (ENOTFOUND).
func insertKey(ctx context.Context, tx pgx.Tx, k *silo.Key) error {
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR SHARE`, k.OrgID).Scan(&one); err != nil {
		return err
	}
	if k.ProjectID != "" {
		err := tx.QueryRow(ctx, `SELECT 1 FROM projects WHERE id = $1 AND org_id = $2 FOR SHARE`, k.ProjectID, k.OrgID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return silo.Errorf(silo.ENOTFOUND, "project %s of organization %s not found", k.ProjectID, k.OrgID)
		} else if err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO keys (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.OrgID, k.Hash, string(k.Role), k.Name, micros(k.CreatedAt), nullMicros(k.RevokedAt), nullString(k.ProjectID))
	return err
}

// KeyByHash finds a key by the hash of its secret.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*silo.Key, error) {
	return scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM keys WHERE hash = $1`, hash))
}

// Keys lists the keys of one organisation, or of all.
func (s *Store) Keys(ctx context.Context, orgID string) ([]*silo.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM keys WHERE $1 = '' OR org_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, scanKey))
}

// RevokeKey deny-lists a key; revoking twice keeps the first time. The
// last unrevoked admin key stays (silo.ErrLastAdmin).
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (*silo.Key, error) {
	var k *silo.Key
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockAdminKeys(ctx, tx); err != nil {
			return err
		}
		var last bool
		err := tx.QueryRow(ctx, `SELECT role = 'admin' AND revoked_at IS NULL AND NOT EXISTS (
			SELECT 1 FROM keys o WHERE o.role = 'admin' AND o.revoked_at IS NULL AND o.id <> k.id)
			FROM keys k WHERE id = $1`, id).Scan(&last)
		if err != nil {
			return err
		}
		if last {
			return silo.ErrLastAdmin
		}
		k, err = scanKey(tx.QueryRow(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING `+keyCols, micros(at), id))
		return err
	})
	return k, err
}

// adminKeysLockID is the transaction advisory lock that every change which
// can take away an admin key (RevokeKey, DeleteOrg) holds before it counts
// the admin keys left: the bytes of "siloadmk". Under READ COMMITTED, two
// revocations counting at once would each see the other's key and both
// commit; taking turns, the second sees the first's commit.
const adminKeysLockID int64 = 0x73696c6f61646d6b

func lockAdminKeys(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, adminKeysLockID)
	return err
}

// bootstrapLockID is the transaction advisory lock of Bootstrap: the bytes
// of "siloboot".
const bootstrapLockID int64 = 0x73696c6f626f6f74

// Bootstrap creates the first organisation and key if there is no key. The
// advisory lock makes nodes that start together take turns, so the check
// for "no key yet" and the insert are one step: exactly one key is created.
func (s *Store) Bootstrap(ctx context.Context, o *silo.Org, k *silo.Key) (bool, error) {
	var created bool
	orig := *o
	err := s.tx(ctx, func(tx pgx.Tx) error {
		created, *o, k.OrgID = false, orig, orig.ID
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLockID); err != nil {
			return err
		}
		var any bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keys)`).Scan(&any); err != nil || any {
			return err
		}
		var existing string
		err := tx.QueryRow(ctx, `SELECT id FROM orgs WHERE name = $1`, o.Name).Scan(&existing)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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
