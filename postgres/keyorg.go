package postgres

import (
	"context"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// KeyWithOrg returns a key (with its project) and its org in one query:
// one round trip.
func (s *Store) KeyWithOrg(ctx context.Context, hash []byte) (*silo.Key, *silo.Org, error) {
	k, o, err := sqlq.ScanKeyWithOrg(s.pool.QueryRow(ctx, sqlq.KeyWithOrgSQL("$1"), hash))
	return k, o, mapErr(err)
}
