package fsck_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/fsck"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/sqlite"
)

// world is a small consistent silo: one org with a project and two
// datasets, ds-a of the org's own and ds-b of the project.
type world struct {
	dir     string
	store   silo.Store
	blobs   *disk.Store
	org     *silo.Org
	project *silo.Project
	keys    []string // blob keys of the datasets
	// exec changes the database behind the store's back, as a bug would
	// (placeholders: ?).
	exec func(t *testing.T, q string, args ...any)
}

// newWorld builds a world on SQLite.
func newWorld(t *testing.T) *world { return newWorldOn(t, "sqlite") }

// newWorldOn builds a world on the metadata store kind ("sqlite" or
// "postgres": a fresh database of testenv's server), with disk blobs.
func newWorldOn(t *testing.T, kind string) *world {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	bl, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{dir: dir, blobs: bl, org: &silo.Org{ID: silo.NewID("org_"), Name: "acme", QuotaBytes: 1 << 30, CreatedAt: time.Now()}}
	switch kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		w.store, w.exec = st, sqliteExec(filepath.Join(dir, "silo.db"))
	case "postgres":
		url := testenv.Postgres(t)
		st, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		w.store, w.exec = st, postgresExec(url)
	}
	st := w.store
	must(t, st.CreateOrg(ctx, w.org))
	q := int64(1 << 20)
	w.project = &silo.Project{ID: silo.NewID("prj_"), OrgID: w.org.ID, Name: "team", QuotaBytes: &q, CreatedAt: time.Now()}
	must(t, st.CreateProject(ctx, w.project))
	w.create(t, "ds-a", "", []byte("{\"text\":\"a\"}\n"))
	w.create(t, "ds-b", w.project.ID, []byte("{\"text\":\"bb\"}\n{\"text\":\"c\"}\n"))
	return w
}

// create stores a dataset, of projectID ("" none), as an upload does:
// reserve, record, write, commit.
func (w *world) create(t *testing.T, id, projectID string, body []byte) {
	t.Helper()
	ctx := t.Context()
	res := w.reserveIn(t, projectID, int64(len(body)))
	key := w.pendingBlob(t, res, body)
	sum := sha256.Sum256(body)
	now := time.Now()
	d := &silo.Dataset{ID: id, OrgID: w.org.ID, ProjectID: projectID, Name: id, Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: now, UpdatedAt: now, SizeBytes: int64(len(body)),
		Parts: []silo.Part{{ID: silo.NewID("dp_"), Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: key,
			SizeBytes: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}}}
	must(t, w.store.CreateDataset(ctx, d, res.ID))
	w.keys = append(w.keys, key)
}

func (w *world) reserve(t *testing.T, n int64) *silo.Reservation {
	t.Helper()
	return w.reserveIn(t, "", n)
}

// reserveIn reserves n bytes for the org and projectID ("" none).
func (w *world) reserveIn(t *testing.T, projectID string, n int64) *silo.Reservation {
	t.Helper()
	now := time.Now()
	res := &silo.Reservation{ID: silo.NewID("res_"), OrgID: w.org.ID, ProjectID: projectID, Node: "dead-node", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, w.store.OpenReservation(t.Context(), res))
	if _, err := w.store.Reserve(t.Context(), res.ID, n, n); err != nil {
		t.Fatal(err)
	}
	return res
}

func (w *world) pendingBlob(t *testing.T, res *silo.Reservation, body []byte) string {
	t.Helper()
	key := silo.NewBlobKey()
	must(t, w.store.AddPendingBlob(t.Context(), res.ID, w.org.ID, key))
	if _, err := w.blobs.Put(t.Context(), key, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	return key
}

func sqliteExec(path string) func(t *testing.T, q string, args ...any) {
	return func(t *testing.T, q string, args ...any) {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

func postgresExec(url string) func(t *testing.T, q string, args ...any) {
	return func(t *testing.T, q string, args ...any) {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
		}
		if _, err := conn.Exec(t.Context(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func kinds(r *fsck.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Kind)
	}
	slices.Sort(out)
	return out
}

// TestCheckAndRepair breaks a consistent silo in one way per case, on each
// metadata store, checks
// that fsck names exactly that, repairs, and checks what is left: nothing
// for what can be fixed, the finding itself for lost data.
func TestCheckAndRepair(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, w *world)
		want   []string // findings, sorted
		left   []string // findings after --repair
	}{
		{"consistent", func(t *testing.T, w *world) {}, nil, nil},
		{"usage drift", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE orgs SET used_bytes = used_bytes + 7`)
		}, []string{fsck.KindUsage}, nil},
		{"reserved drift", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE orgs SET reserved_bytes = 99`)
		}, []string{fsck.KindReserved}, nil},
		{"upload cut off by a crash", func(t *testing.T, w *world) {
			res := w.reserve(t, 100)
			w.pendingBlob(t, res, []byte("half an upl"))
		}, []string{fsck.KindPending, fsck.KindReservation}, nil},
		{"job blob of a dead validation", func(t *testing.T, w *world) {
			now := time.Now()
			job, err := w.store.ClaimJob(t.Context(), "dead-node", now, now.Add(-time.Second))
			if err != nil || job == nil {
				t.Fatalf("claim: %v %v", job, err)
			}
			key := silo.NewBlobKey()
			must(t, w.store.AddJobBlob(t.Context(), job, key))
			_, err = w.blobs.Put(t.Context(), key, bytes.NewReader([]byte("avro...")))
			must(t, err)
		}, []string{fsck.KindPending}, nil},
		{"garbage not yet deleted", func(t *testing.T, w *world) {
			res := w.reserve(t, 10)
			w.pendingBlob(t, res, []byte("0123456789"))
			_, err := w.store.DropReservation(t.Context(), res.ID, time.Time{})
			must(t, err)
		}, []string{fsck.KindGarbage}, nil},
		{"orphan blob", func(t *testing.T, w *world) {
			_, err := w.blobs.Put(t.Context(), silo.NewBlobKey(), bytes.NewReader([]byte("nobody knows me")))
			must(t, err)
		}, []string{fsck.KindOrphan}, nil},
		{"orphan temp file", func(t *testing.T, w *world) {
			must(t, os.WriteFile(filepath.Join(w.dir, "blobs", "tmp", silo.NewBlobKey()+".part"), []byte("torn"), 0o600))
		}, []string{fsck.KindOrphan}, nil},
		{"missing blob", func(t *testing.T, w *world) {
			must(t, os.Remove(filepath.Join(w.dir, "blobs", "blobs", w.keys[0])))
		}, []string{fsck.KindMissing}, []string{fsck.KindMissing}},
		{"corrupt blob same size", func(t *testing.T, w *world) {
			must(t, os.WriteFile(filepath.Join(w.dir, "blobs", "blobs", w.keys[0]), []byte("{\"text\":\"b\"}\n"), 0o600))
		}, []string{fsck.KindCorrupt}, []string{fsck.KindCorrupt}},
		{"truncated blob", func(t *testing.T, w *world) {
			must(t, os.Truncate(filepath.Join(w.dir, "blobs", "blobs", w.keys[1]), 3))
		}, []string{fsck.KindCorrupt}, []string{fsck.KindCorrupt}},
		{"project usage drift", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE projects SET used_bytes = used_bytes + 7`)
		}, []string{fsck.KindProjectUsage}, nil},
		{"project reserved drift", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE projects SET reserved_bytes = 99`)
		}, []string{fsck.KindProjectReserved}, nil},
		{"project upload cut off by a crash", func(t *testing.T, w *world) {
			res := w.reserveIn(t, w.project.ID, 100)
			w.pendingBlob(t, res, []byte("half an upl"))
		}, []string{fsck.KindPending, fsck.KindReservation}, nil},
		{"dataset of a project counted as the org's", func(t *testing.T, w *world) {
			w.exec(t, `UPDATE datasets SET project_id = NULL WHERE id = 'ds-b'`)
		}, []string{fsck.KindProjectUsage}, nil},
		{"dataset, reservation and key of a project that is gone", func(t *testing.T, w *world) {
			must(t, w.store.CreateKey(t.Context(), &silo.Key{ID: silo.NewID("key_"), OrgID: w.org.ID, ProjectID: w.project.ID,
				Role: silo.RoleWriter, Hash: silo.HashSecret("s"), CreatedAt: time.Now()}))
			w.reserveIn(t, w.project.ID, 10)
			w.exec(t, `DELETE FROM projects`)
		}, []string{fsck.KindProjectRef, fsck.KindProjectRef, fsck.KindProjectRef, fsck.KindReservation},
			[]string{fsck.KindProjectRef, fsck.KindProjectRef}},
		{"dataset in another org's project", func(t *testing.T, w *world) {
			other := &silo.Org{ID: silo.NewID("org_"), Name: "other", QuotaBytes: 1 << 30, CreatedAt: time.Now()}
			must(t, w.store.CreateOrg(t.Context(), other))
			p := &silo.Project{ID: silo.NewID("prj_"), OrgID: other.ID, Name: "team", CreatedAt: time.Now()}
			must(t, w.store.CreateProject(t.Context(), p))
			w.exec(t, `UPDATE datasets SET project_id = ? WHERE id = 'ds-a'`, p.ID)
		}, []string{fsck.KindProjectRef, fsck.KindProjectUsage}, []string{fsck.KindProjectRef}},
		{"live row without dataset", func(t *testing.T, w *world) {
			w.exec(t, `DELETE FROM datasets WHERE id = 'ds-a'`)
			w.exec(t, `UPDATE orgs SET used_bytes = (SELECT SUM(size_bytes) FROM datasets)`)
		}, []string{fsck.KindUnreferred}, []string{fsck.KindUnreferred}},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				w := newWorldOn(t, kind)
				tc.break_(t, w)
				ctx := context.Background()
				// fsck cannot lock a PostgreSQL store, so it is never
				// exclusive there: the dead node's leases (by the
				// database's clock) must have run out, as they have when
				// an operator runs it.
				exclusive := kind == "sqlite"
				if !exclusive {
					w.exec(t, `UPDATE reservations SET expires_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint - 1000000`)
				}
				ck := &fsck.Checker{Store: w.store, Blobs: w.blobs, Exclusive: exclusive}
				r, err := ck.Check(ctx)
				must(t, err)
				if got := kinds(r); !slices.Equal(got, tc.want) {
					t.Fatalf("findings %v, want %v:\n%v", got, tc.want, r.Findings)
				}
				if r.Datasets < 1 || r.Parts < 1 || r.BytesVerified == 0 {
					t.Errorf("checked nothing: %+v", r)
				}
				must(t, ck.Repair(ctx, r))
				if len(tc.want) > len(tc.left) && len(r.Repairs) == 0 {
					t.Errorf("repair fixed %v without saying so", tc.want)
				}
				after, err := ck.Check(ctx)
				must(t, err)
				if got := kinds(after); !slices.Equal(got, tc.left) {
					t.Fatalf("after repair %v, want %v:\n%v\nrepairs: %v", got, tc.left, after.Findings, r.Repairs)
				}
			})
		}
	}
}

// Without Exclusive (nodes may be running), a reservation whose lease is
// still valid is reported but never released.
func TestRepairSparesLiveLeases(t *testing.T) {
	w := newWorld(t)
	res := w.reserve(t, 100)
	key := w.pendingBlob(t, res, []byte("in flight"))
	ck := &fsck.Checker{Store: w.store, Blobs: w.blobs}
	r, err := ck.Check(t.Context())
	must(t, err)
	must(t, ck.Repair(t.Context(), r))
	left, err := w.store.Reservations(t.Context())
	must(t, err)
	if len(left) != 1 || left[0].ID != res.ID {
		t.Fatalf("a live reservation was released: %v", left)
	}
	if _, err := w.blobs.Open(t.Context(), key, 0, -1); err != nil {
		t.Fatalf("the blob of a live upload was deleted: %v", err)
	}
	if o, err := w.store.Org(t.Context(), w.org.ID); err != nil || o.ReservedBytes != 100 {
		t.Fatalf("org %+v (%v), want reserved_bytes 100", o, err)
	}
}

// A file under the blob directory that is not a blob key (a ping probe a
// killed health check left) is reported and left alone: it neither fails
// the check nor stops --repair before its usage recount.
func TestStrayFilesSkipped(t *testing.T) {
	w := newWorld(t)
	stray := filepath.Join(w.dir, "blobs", "tmp", "ping-12345")
	must(t, os.WriteFile(stray, []byte("probe"), 0o600))
	w.exec(t, `UPDATE orgs SET used_bytes = used_bytes + 7`)
	ck := &fsck.Checker{Store: w.store, Blobs: w.blobs, Exclusive: true}
	r, err := ck.Check(t.Context())
	must(t, err)
	if got := kinds(r); !slices.Equal(got, []string{fsck.KindUsage}) {
		t.Fatalf("findings %v, want only the usage drift", got)
	}
	if len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0], "ping-12345") {
		t.Fatalf("skipped %v, want the probe", r.Skipped)
	}
	must(t, ck.Repair(t.Context(), r))
	after, err := ck.Check(t.Context())
	must(t, err)
	if !after.OK() || len(after.Skipped) != 1 {
		t.Fatalf("after repair: %v, skipped %v", after.Findings, after.Skipped)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatalf("the stray file was touched: %v", err)
	}
}
