package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// OldestJob returns when the oldest unfinished validation job was created.
func (s *Store) OldestJob(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(created_at) FROM jobs`).Scan(&at); err != nil || !at.Valid {
		return time.Time{}, err
	}
	return fromMicros(at.Int64), nil
}
