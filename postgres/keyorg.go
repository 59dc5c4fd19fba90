package postgres

import (
	"context"

	"github.com/silo-datasets/silo"
)

// KeyWithOrg returns a key and its org in one query (one round trip); a
// revoked key may outlive its org, hence the LEFT JOIN.
func (s *Store) KeyWithOrg(ctx context.Context, hash []byte) (*silo.Key, *silo.Org, error) {
	var k silo.Key
	var created int64
	var revoked *int64
	var oid, oname *string
	var quota, used, reserved, ocreated *int64
	err := s.pool.QueryRow(ctx, `SELECT k.id, k.org_id, k.hash, k.role, k.name, k.created_at, k.revoked_at,
		o.id, o.name, o.quota_bytes, o.used_bytes, o.reserved_bytes, o.created_at
		FROM keys k LEFT JOIN orgs o ON o.id = k.org_id WHERE k.hash = $1`, hash).Scan(
		&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked,
		&oid, &oname, &quota, &used, &reserved, &ocreated)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	k.CreatedAt, k.RevokedAt = fromMicros(created), fromNullMicros(revoked)
	if oid == nil {
		return &k, nil, nil
	}
	return &k, &silo.Org{ID: *oid, Name: *oname, QuotaBytes: *quota, UsedBytes: *used,
		ReservedBytes: *reserved, CreatedAt: fromMicros(*ocreated)}, nil
}
