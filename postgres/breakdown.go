package postgres

import (
	"context"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// UsageBreakdown sums the org's datasets by type, client name, creating
// key and project; the (org_id, ...) index narrows the scan to the org's rows. Keys are
// never deleted (only revoked), so every recorded key has its name.
func (s *Store) UsageBreakdown(ctx context.Context, orgID string) ([]silo.UsageGroup, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.type, d.client_name, COALESCE(d.key_id, ''), COALESCE(MAX(k.name), ''), COALESCE(d.project_id, ''),
		COUNT(*), COALESCE(SUM(d.size_bytes), 0)::bigint
		FROM datasets d LEFT JOIN keys k ON k.id = d.key_id
		WHERE d.org_id = $1 GROUP BY d.type, d.client_name, d.key_id, d.project_id ORDER BY 7 DESC, 1, 2, 3, 5`, orgID)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, func(row sqlq.Scanner) (silo.UsageGroup, error) {
		var g silo.UsageGroup
		err := row.Scan(&g.Type, &g.ClientName, &g.KeyID, &g.KeyName, &g.ProjectID, &g.Datasets, &g.Bytes)
		return g, err
	}))
}
