// Package sqlq holds the SQL that the SQLite and PostgreSQL stores build the
// same way, apart from how each writes a placeholder.
package sqlq

import (
	"math"
	"strings"
	"time"

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
	if f.ProjectID != "" {
		// The datasets_project_created index serves a project's lists.
		b.WriteString(` AND project_id = ` + arg(f.ProjectID))
	}
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
	if c := f.Cursor; c != nil {
		// A row comparison: the datasets_org_created index serves it.
		b.WriteString(` AND (created_at, id) < (` + arg(c.CreatedAt.UnixMicro()) + `, ` + arg(c.ID) + `)`)
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

// Scanner is a row to scan: *sql.Row and *sql.Rows, pgx.Row and pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Rows is a result set of database/sql or pgx.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Each calls fn with every row of rows as scan reads it, streaming, and
// closes rows.
func Each[T any](rows Rows, scan func(Scanner) (T, error), fn func(T) error) error {
	defer closeRows(rows)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Collect returns every row of rows as scan reads it, and closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	err := Each(rows, scan, func(v T) error { out = append(out, v); return nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

func closeRows(rows Rows) {
	switch c := rows.(type) {
	case interface{ Close() error }: // database/sql
		c.Close()
	case interface{ Close() }: // pgx
		c.Close()
	}
}

// ReservationCols are the columns ScanReservation reads, in its order.
const ReservationCols = `id, org_id, node, bytes, created_at, expires_at, project_id`

// ScanReservation reads a reservation row selected with ReservationCols.
func ScanReservation(row Scanner) (*silo.Reservation, error) {
	var r silo.Reservation
	var created, expires int64
	var project *string
	if err := row.Scan(&r.ID, &r.OrgID, &r.Node, &r.Bytes, &created, &expires, &project); err != nil {
		return nil, err
	}
	r.CreatedAt, r.ExpiresAt, r.ProjectID = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC(), deref(project)
	return &r, nil
}

// deref reads a nullable text column: NULL is "".
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Grant decides one reservation step: at least need and at most want
// bytes, as many as every level's free bytes allow. levels are the
// numbers of the quotas that apply, each read under its row's lock: the
// project's first (if it has a quota), then the organisation's. It returns
// the first level that cannot give need, with need filled in, so the
// refusal names the level that refused; the store then writes nothing.
func Grant(need, want int64, levels ...*silo.QuotaError) (int64, error) {
	granted := want
	for _, l := range levels {
		free := l.LimitBytes - l.UsedBytes - l.ReservedBytes
		if free < need {
			l.RequestedBytes = need
			return 0, l
		}
		granted = min(granted, free)
	}
	return granted, nil
}

// ProjectCols are the columns ScanProject reads, in its order.
const ProjectCols = `id, org_id, name, quota_bytes, used_bytes, reserved_bytes, created_at`

// ScanProject reads a project row selected with ProjectCols.
func ScanProject(row Scanner) (*silo.Project, error) {
	var p silo.Project
	var created int64
	if err := row.Scan(&p.ID, &p.OrgID, &p.Name, &p.QuotaBytes, &p.UsedBytes, &p.ReservedBytes, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = time.UnixMicro(created).UTC()
	return &p, nil
}

// SumsByOrg reads rows of (org_id, sum) into a map, and closes rows.
func SumsByOrg(rows Rows) (map[string]int64, error) {
	out := map[string]int64{}
	err := Each(rows, func(row Scanner) (struct{}, error) {
		var org string
		var sum int64
		if err := row.Scan(&org, &sum); err != nil {
			return struct{}{}, err
		}
		out[org] = sum
		return struct{}{}, nil
	}, func(struct{}) error { return nil })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanUsageSample reads a row of (at, used_bytes).
func ScanUsageSample(row Scanner) (silo.UsageSample, error) {
	var at int64
	var u silo.UsageSample
	err := row.Scan(&at, &u.UsedBytes)
	u.At = time.UnixMicro(at).UTC()
	return u, err
}

// UploadCols are the columns ScanUpload reads, in its order.
const UploadCols = `id, org_id, key_id, reservation_id, upload_length, upload_offset, metadata, partial, blob_key, blob_state, hash_state, dataset_id, created_at, expires_at, project_id`

// ScanUpload reads an upload row selected with UploadCols.
func ScanUpload(row Scanner) (*silo.ResumableUpload, error) {
	var u silo.ResumableUpload
	var res, ds, project *string
	var created, expires int64
	err := row.Scan(&u.ID, &u.OrgID, &u.KeyID, &res, &u.Length, &u.Offset, &u.Metadata, &u.Partial,
		&u.BlobKey, &u.BlobState, &u.HashState, &ds, &created, &expires, &project)
	if err != nil {
		return nil, err
	}
	u.ReservationID, u.DatasetID, u.ProjectID = deref(res), deref(ds), deref(project)
	u.CreatedAt, u.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	return &u, nil
}

// CheckProject checks that the uploads joined into one (a concatenation,
// a dataset) are all of the project the result will be of: an upload of
// another project is not found, as for its HEAD.
func CheckProject(projectID string, us []*silo.ResumableUpload) error {
	for _, u := range us {
		if u.ProjectID != projectID {
			return silo.Errorf(silo.ENOTFOUND, "upload not found")
		}
	}
	return nil
}

// CheckTaken says why u cannot be joined into a concatenation (partial) or
// made a dataset: it must be complete, hold its reservation, and be a
// partial upload exactly when one is wanted.
func CheckTaken(u *silo.ResumableUpload, partial bool) error {
	switch {
	case u.DatasetID != "":
		return silo.Errorf(silo.ECONFLICT, "The upload %s is already the dataset %s.", u.ID, u.DatasetID)
	case u.ReservationID == "":
		return silo.Errorf(silo.ECONFLICT, "The upload %s holds no bytes any more.", u.ID)
	case !u.Complete():
		return silo.Errorf(silo.ECONFLICT, "The upload %s is not complete: it holds %d of its %d bytes.", u.ID, u.Offset, u.Length)
	case partial && !u.Partial:
		return silo.Errorf(silo.ECONFLICT, "The upload %s is not a partial upload (Upload-Concat: partial), so it cannot be concatenated.", u.ID)
	case !partial && u.Partial:
		return silo.Errorf(silo.ECONFLICT, "The upload %s is a partial upload: concatenate it into a final upload first.", u.ID)
	}
	return nil
}

// CheckConcat checks that final is as long as the partials it joins.
func CheckConcat(final *silo.ResumableUpload, us []*silo.ResumableUpload) error {
	var sum int64
	for _, u := range us {
		sum += u.Length
	}
	if sum != final.Length {
		return silo.Errorf(silo.ECONFLICT, "The partial uploads hold %d bytes, not the final upload's %d.", sum, final.Length)
	}
	return nil
}

// KeyWithOrgSQL reads a key, its org's row and its project's in one
// statement, the key's hash as placeholder ph: a revoked key may outlive
// its org or project, and most keys have no project, hence the LEFT JOINs.
func KeyWithOrgSQL(ph string) string {
	return `SELECT k.id, k.org_id, k.hash, k.role, k.name, k.created_at, k.revoked_at, k.project_id,
	o.id, o.name, o.quota_bytes, o.used_bytes, o.reserved_bytes, o.created_at,
	p.id, p.name, p.quota_bytes, p.used_bytes, p.reserved_bytes, p.created_at
	FROM keys k LEFT JOIN orgs o ON o.id = k.org_id LEFT JOIN projects p ON p.id = k.project_id WHERE k.hash = ` + ph
}

// ScanKeyWithOrg reads a row of KeyWithOrgSQL: the key with its Project,
// and its org (nil if gone).
func ScanKeyWithOrg(row Scanner) (*silo.Key, *silo.Org, error) {
	var k silo.Key
	var created int64
	var revoked *int64
	var project, oid, oname, pid, pname *string
	var quota, used, reserved, ocreated, pquota, pused, preserved, pcreated *int64
	err := row.Scan(&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked, &project,
		&oid, &oname, &quota, &used, &reserved, &ocreated,
		&pid, &pname, &pquota, &pused, &preserved, &pcreated)
	if err != nil {
		return nil, nil, err
	}
	k.CreatedAt, k.ProjectID = time.UnixMicro(created).UTC(), deref(project)
	if revoked != nil {
		t := time.UnixMicro(*revoked).UTC()
		k.RevokedAt = &t
	}
	if pid != nil {
		k.Project = &silo.Project{ID: *pid, OrgID: k.OrgID, Name: *pname, QuotaBytes: pquota, UsedBytes: *pused,
			ReservedBytes: *preserved, CreatedAt: time.UnixMicro(*pcreated).UTC()}
	}
	if oid == nil {
		return &k, nil, nil
	}
	return &k, &silo.Org{ID: *oid, Name: *oname, QuotaBytes: *quota, UsedBytes: *used,
		ReservedBytes: *reserved, CreatedAt: time.UnixMicro(*ocreated).UTC()}, nil
}

// LiveKeys lists the keys of the blobs d refers to (silo.Dataset.LiveBlobs).
func LiveKeys(d *silo.Dataset) []string {
	var keys []string
	for _, b := range d.LiveBlobs() {
		keys = append(keys, b.Key)
	}
	return keys
}
