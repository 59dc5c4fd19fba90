// Package sqlq holds the SQL that the SQLite and PostgreSQL stores build the
// same way, apart from how each writes a placeholder.
package sqlq

import (
	"math"
	"strings"

	"github.com/silo-datasets/silo"
)

// DatasetQuery returns the query that lists the datasets f selects, newest
// first, selecting cols, and its arguments. ph renders the n-th (1-based)
// placeholder: "?" for SQLite, "$n" for PostgreSQL. Timestamps are Unix
// microseconds, as both stores keep them. The (org_id, created_at DESC,
// id DESC) index serves it.
func DatasetQuery(cols string, f silo.DatasetFilter, ph func(n int) string) (string, []any) {
	var b strings.Builder
	args := []any{f.OrgID}
	arg := func(v any) string {
		args = append(args, v)
		return ph(len(args))
	}
	b.WriteString(`SELECT ` + cols + ` FROM datasets WHERE org_id = ` + ph(1))
	if f.Type != "" {
		b.WriteString(` AND type = ` + arg(string(f.Type)))
	}
	if f.Status != "" {
		b.WriteString(` AND status = ` + arg(string(f.Status)))
	}
	if f.Before != nil {
		b.WriteString(` AND created_at < ` + arg(f.Before.UnixMicro()))
	}
	if f.After != nil {
		b.WriteString(` AND created_at > ` + arg(f.After.UnixMicro()))
	}
	b.WriteString(` ORDER BY created_at DESC, id DESC`)
	if f.Limit > 0 || f.Offset > 0 {
		// SQLite wants a LIMIT before any OFFSET; PostgreSQL refuses a
		// negative one. The largest int64 suits both.
		limit := int64(math.MaxInt64)
		if f.Limit > 0 {
			limit = int64(f.Limit)
		}
		b.WriteString(` LIMIT ` + arg(limit) + ` OFFSET ` + arg(int64(f.Offset)))
	}
	return b.String(), args
}
