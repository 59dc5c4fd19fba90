package postgres

import (
	"context"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// UsageBreakdown sums the org's datasets by type and client name; the
// (org_id, ...) index narrows the scan to the org's rows.
func (s *Store) UsageBreakdown(ctx context.Context, orgID string) ([]silo.UsageGroup, error) {
	rows, err := s.pool.Query(ctx, `SELECT type, client_name, COUNT(*), COALESCE(SUM(size_bytes), 0)::bigint
		FROM datasets WHERE org_id = $1 GROUP BY type, client_name ORDER BY 4 DESC, 1, 2`, orgID)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, func(row sqlq.Scanner) (silo.UsageGroup, error) {
		var g silo.UsageGroup
		err := row.Scan(&g.Type, &g.ClientName, &g.Datasets, &g.Bytes)
		return g, err
	}))
}
