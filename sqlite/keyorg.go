package sqlite

import (
	"context"
	"database/sql"

	"github.com/silo-datasets/silo"
)

// keyWithOrgSQL reads a key and its org's row in one statement: a revoked
// key may outlive its org, hence the LEFT JOIN.
const keyWithOrgSQL = `SELECT k.id, k.org_id, k.hash, k.role, k.name, k.created_at, k.revoked_at,
	o.id, o.name, o.quota_bytes, o.used_bytes, o.reserved_bytes, o.created_at
	FROM keys k LEFT JOIN orgs o ON o.id = k.org_id WHERE k.hash = ?`

// KeyWithOrg returns a key and its org: from the key cache (keycache.go,
// exact: every write clears it), else in one query, prepared once on the
// reader pool as the other per-request lookups (prepared.go).
func (s *Store) KeyWithOrg(ctx context.Context, hash []byte) (*silo.Key, *silo.Org, error) {
	k, o, ok, gen := s.keys.get(hash)
	if ok {
		return k, o, nil
	}
	k, o, err := s.keyWithOrg(ctx, hash)
	if err == nil {
		s.keys.put(gen, hash, k, o)
	}
	return k, o, err
}

func (s *Store) keyWithOrg(ctx context.Context, hash []byte) (*silo.Key, *silo.Org, error) {
	var k silo.Key
	var created int64
	var revoked sql.NullInt64
	var oid, oname sql.NullString
	var quota, used, reserved, ocreated sql.NullInt64
	err := s.hot.keyWithOrg.QueryRowContext(ctx, hash).Scan(&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked,
		&oid, &oname, &quota, &used, &reserved, &ocreated)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt = fromMicros(created), fromNullMicros(revoked)
	if !oid.Valid {
		return &k, nil, nil
	}
	return &k, &silo.Org{ID: oid.String, Name: oname.String, QuotaBytes: quota.Int64, UsedBytes: used.Int64,
		ReservedBytes: reserved.Int64, CreatedAt: fromMicros(ocreated.Int64)}, nil
}
