package postgres

import (
	"context"
	"time"
)

// OldestJob returns when the oldest unfinished validation job was created.
func (s *Store) OldestJob(ctx context.Context) (time.Time, error) {
	var at *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(created_at) FROM jobs`).Scan(&at); err != nil || at == nil {
		return time.Time{}, err
	}
	return fromMicros(*at), nil
}
