package sqlite

import (
	"context"

	"github.com/silo-datasets/silo"
)

// UsageBreakdown sums the org's datasets by type and client name; the
// (org_id, ...) index narrows the scan to the org's rows.
func (s *Store) UsageBreakdown(ctx context.Context, orgID string) ([]silo.UsageGroup, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT type, client_name, COUNT(*), COALESCE(SUM(size_bytes), 0)
		FROM datasets WHERE org_id = ? GROUP BY type, client_name ORDER BY 4 DESC, 1, 2`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []silo.UsageGroup
	for rows.Next() {
		var g silo.UsageGroup
		if err := rows.Scan(&g.Type, &g.ClientName, &g.Datasets, &g.Bytes); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
