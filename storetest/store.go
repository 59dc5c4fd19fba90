// Package storetest holds the conformance suites that every metadata store
// (silo.Store) and every blob store (silo.BlobStore) must pass, unchanged:
// SQLite and PostgreSQL, disk and S3 behave the same because they pass the
// same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// OpenStore returns a fresh, empty store; the suite closes it.
type OpenStore func(t *testing.T) silo.Store

// TestStore runs the metadata store conformance suite.
func TestStore(t *testing.T, open OpenStore) {
	suite := []struct {
		name string
		fn   func(*testing.T, silo.Store)
	}{
		{"Orgs", testOrgs},
		{"Keys", testKeys},
		{"Bootstrap", testBootstrap},
		{"BootstrapConcurrent", testBootstrapConcurrent},
		{"Reserve", testReserve},
		{"ReserveConcurrent", testReserveConcurrent},
		{"DatasetLifecycle", testDatasetLifecycle},
		{"ReleaseReservation", testRelease},
		{"Leases", testLeases},
		{"LeasesOfWork", testLeasesOfWork},
		{"RetryJob", testRetryJob},
		{"DropReservation", testDropReservation},
		{"ListFilters", testList},
		{"Jobs", testJobs},
		{"JobOfDeletedDataset", testJobDeleted},
		{"RequeueJobs", testRequeue},
		{"Expiry", testExpiry},
		{"Settings", testSettings},
		{"UsageBreakdown", testBreakdown},
		{"DeleteOrg", testDeleteOrg},
		{"LastAdmin", testLastAdmin},
		{"LastAdminConcurrent", testLastAdminConcurrent},
		{"UsageBreakdownByKey", testBreakdownByKey},
		{"OldestJob", testOldestJob},
		{"Uploads", testUploads},
		{"UploadExpiry", testUploadExpiry},
		{"UploadConcatAndDataset", testUploadConcatAndDataset},
		{"UploadsRace", testUploadsRace},
		{"GarbagePaging", testGarbagePaging},
		{"BlobHold", testBlobHold},
		{"Projects", testProjects},
		{"ProjectReserve", testProjectReserve},
		{"ProjectReserveConcurrent", testProjectReserveConcurrent},
		{"DeleteProject", testDeleteProject},
		{"ProjectUploads", testProjectUploads},
		{"CreateMarksPartsLive", testCreateMarksPartsLive},
	}
	suite = append(suite, testOutboxSuite()...)
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if silo.ErrorCode(err) != code {
		t.Fatalf("got error %v (code %q), want code %q", err, silo.ErrorCode(err), code)
	}
}

func newOrg(t *testing.T, s silo.Store, quota int64) *silo.Org {
	t.Helper()
	o := &silo.Org{ID: silo.NewID("org_"), Name: silo.NewID("name"), QuotaBytes: quota, CreatedAt: t0}
	must(t, s.CreateOrg(ctx(t), o))
	return o
}

func checkCounters(t *testing.T, s silo.Store, orgID string, used, reserved int64) {
	t.Helper()
	o, err := s.Org(ctx(t), orgID)
	must(t, err)
	if o.UsedBytes != used || o.ReservedBytes != reserved {
		t.Fatalf("org %s: used %d reserved %d, want used %d reserved %d", orgID, o.UsedBytes, o.ReservedBytes, used, reserved)
	}
}

func testOrgs(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	got, err := s.Org(ctx(t), o.ID)
	must(t, err)
	if got.Name != o.Name || got.QuotaBytes != 1000 || !got.CreatedAt.Equal(t0) || got.UsedBytes != 0 {
		t.Fatalf("Org = %+v, want %+v", got, o)
	}
	wantCode(t, s.CreateOrg(ctx(t), &silo.Org{ID: silo.NewID("org_"), Name: o.Name, CreatedAt: t0}), silo.ECONFLICT)
	_, err = s.Org(ctx(t), "org_nope")
	wantCode(t, err, silo.ENOTFOUND)
	o2 := newOrg(t, s, 5)
	all, err := s.Orgs(ctx(t))
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("Orgs: %d, want 2", len(all))
	}
	got, err = s.SetQuota(ctx(t), o2.ID, 77)
	must(t, err)
	if got.QuotaBytes != 77 {
		t.Fatalf("SetQuota: %+v", got)
	}
	_, err = s.SetQuota(ctx(t), "org_nope", 1)
	wantCode(t, err, silo.ENOTFOUND)
}

func testKeys(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1)
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Name: "ci", Hash: silo.HashSecret("s1"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	got, err := s.KeyByHash(ctx(t), silo.HashSecret("s1"))
	must(t, err)
	if got.ID != k.ID || got.Role != silo.RoleWriter || got.OrgID != o.ID || got.Revoked() {
		t.Fatalf("KeyByHash = %+v", got)
	}
	_, err = s.KeyByHash(ctx(t), silo.HashSecret("nope"))
	wantCode(t, err, silo.ENOTFOUND)
	dup := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleReader, Hash: silo.HashSecret("s1"), CreatedAt: t0}
	wantCode(t, s.CreateKey(ctx(t), dup), silo.ECONFLICT)
	o2 := newOrg(t, s, 1)
	must(t, s.CreateKey(ctx(t), &silo.Key{ID: silo.NewID("key_"), OrgID: o2.ID, Role: silo.RoleReader, Hash: silo.HashSecret("s2"), CreatedAt: t0}))
	for org, want := range map[string]int{"": 2, o.ID: 1, o2.ID: 1} {
		keys, err := s.Keys(ctx(t), org)
		must(t, err)
		if len(keys) != want {
			t.Fatalf("Keys(%q) = %d keys, want %d", org, len(keys), want)
		}
	}
	rk, err := s.RevokeKey(ctx(t), k.ID, t0.Add(time.Hour))
	must(t, err)
	if !rk.Revoked() || !rk.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("RevokeKey = %+v", rk)
	}
	rk, err = s.RevokeKey(ctx(t), k.ID, t0.Add(2*time.Hour))
	must(t, err)
	if !rk.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("second RevokeKey moved revoked_at to %v", rk.RevokedAt)
	}
	got, err = s.KeyByHash(ctx(t), silo.HashSecret("s1"))
	must(t, err)
	if !got.Revoked() {
		t.Fatal("revoked key is not revoked")
	}
	_, err = s.RevokeKey(ctx(t), "key_nope", t0)
	wantCode(t, err, silo.ENOTFOUND)
}

func bootstrapPair(secret string) (*silo.Org, *silo.Key) {
	o := &silo.Org{ID: silo.NewID("org_"), Name: "default", QuotaBytes: 100, CreatedAt: t0}
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleAdmin, Hash: silo.HashSecret(secret), CreatedAt: t0}
	return o, k
}

func testBootstrap(t *testing.T, s silo.Store) {
	o, k := bootstrapPair("first")
	created, err := s.Bootstrap(ctx(t), o, k)
	must(t, err)
	if !created {
		t.Fatal("Bootstrap on an empty store created nothing")
	}
	o2, k2 := bootstrapPair("second")
	created, err = s.Bootstrap(ctx(t), o2, k2)
	must(t, err)
	if created {
		t.Fatal("Bootstrap created a second key")
	}
	got, err := s.KeyByHash(ctx(t), silo.HashSecret("first"))
	must(t, err)
	if got.Role != silo.RoleAdmin || got.OrgID != o.ID {
		t.Fatalf("bootstrap key = %+v", got)
	}
}

func testBootstrapConcurrent(t *testing.T, s silo.Store) {
	var wg sync.WaitGroup
	var created atomic.Int32
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, k := bootstrapPair(fmt.Sprint("secret", i))
			ok, err := s.Bootstrap(context.Background(), o, k)
			if err != nil {
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	keys, err := s.Keys(ctx(t), "")
	must(t, err)
	if created.Load() != 1 || len(keys) != 1 {
		t.Fatalf("concurrent bootstrap created %d (store has %d keys), want exactly 1", created.Load(), len(keys))
	}
}

func openRes(t *testing.T, s silo.Store, orgID, node string, expires time.Time) *silo.Reservation {
	t.Helper()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, Node: node, CreatedAt: t0, ExpiresAt: expires}
	must(t, s.OpenReservation(ctx(t), r))
	return r
}

func testReserve(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 100)
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	for _, tc := range []struct{ need, want, granted int64 }{
		{0, 30, 30},  // plenty
		{10, 10, 10}, // exact
		{1, 100, 60}, // as much as fits
		{0, 5, 0},    // nothing left, nothing needed
	} {
		got, err := s.Reserve(ctx(t), r.ID, tc.need, tc.want)
		must(t, err)
		if got != tc.granted {
			t.Fatalf("Reserve(%d, %d) = %d, want %d", tc.need, tc.want, got, tc.granted)
		}
	}
	_, err := s.Reserve(ctx(t), r.ID, 1, 1)
	var qe *silo.QuotaError
	if !errors.As(err, &qe) || qe.LimitBytes != 100 || qe.ReservedBytes != 100 || qe.RequestedBytes != 1 {
		t.Fatalf("over quota: %v (%+v)", err, qe)
	}
	wantCode(t, err, silo.EQUOTA)
	checkCounters(t, s, o.ID, 0, 100)
	_, err = s.Reserve(ctx(t), "res_nope", 1, 1)
	wantCode(t, err, silo.ENOTFOUND)
	// A quota lowered below usage refuses even zero-byte needs.
	must(t, release(s, r.ID, time.Time{}))
	_, err = s.SetQuota(ctx(t), o.ID, 0)
	must(t, err)
	r2 := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	got, err := s.Reserve(ctx(t), r2.ID, 0, 10)
	must(t, err)
	if got != 0 {
		t.Fatalf("reserve on a zero quota granted %d", got)
	}
}

func testReserveConcurrent(t *testing.T, s silo.Store) {
	const quota = 1000
	o := newOrg(t, s, quota)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: o.ID, Node: "n", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
			if err := s.OpenReservation(context.Background(), r); err != nil {
				t.Error(err)
				return
			}
			for j := 0; j < 10; j++ {
				n, err := s.Reserve(context.Background(), r.ID, 7, 7)
				if silo.ErrorCode(err) == silo.EQUOTA {
					return
				} else if err != nil {
					t.Error(err)
					return
				}
				granted.Add(n)
			}
		}()
	}
	wg.Wait()
	checkCounters(t, s, o.ID, 0, granted.Load())
	if g := granted.Load(); g > quota || g < quota-7 {
		t.Fatalf("granted %d bytes against a quota of %d", g, quota)
	}
}
