package sqlite

import (
	"context"

	"github.com/silo-datasets/silo"
)

// UsageBreakdown sums the org's datasets by type, client name, creating
// key and project; the (org_id, ...) index narrows the scan to the org's rows. Keys are
// never deleted (only revoked), so every recorded key has its name.
func (s *Store) UsageBreakdown(ctx context.Context, orgID string) ([]silo.UsageGroup, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.type, d.client_name, COALESCE(d.key_id, ''), COALESCE(MAX(k.name), ''), COALESCE(d.project_id, ''),
		COUNT(*), COALESCE(SUM(d.size_bytes), 0)
		FROM datasets d LEFT JOIN keys k ON k.id = d.key_id
		WHERE d.org_id = ? GROUP BY d.type, d.client_name, d.key_id, d.project_id ORDER BY 7 DESC, 1, 2, 3, 5`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []silo.UsageGroup
	for rows.Next() {
		var g silo.UsageGroup
		if err := rows.Scan(&g.Type, &g.ClientName, &g.KeyID, &g.KeyName, &g.ProjectID, &g.Datasets, &g.Bytes); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
