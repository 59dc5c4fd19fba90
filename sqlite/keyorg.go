package sqlite

import (
	"context"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// keyWithOrgSQL reads a key, its org and its project in one statement.
var keyWithOrgSQL = sqlq.KeyWithOrgSQL("?")

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
	k, o, err := sqlq.ScanKeyWithOrg(s.hot.keyWithOrg.QueryRowContext(ctx, hash))
	return k, o, mapErr(err)
}
