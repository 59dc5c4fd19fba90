package storetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

func newProject(t *testing.T, s silo.Store, orgID string, quota *int64) *silo.Project {
	t.Helper()
	p := &silo.Project{ID: silo.NewID("prj_"), OrgID: orgID, Name: silo.NewID("team"), QuotaBytes: quota, CreatedAt: t0}
	must(t, s.CreateProject(ctx(t), p))
	return p
}

func quota(n int64) *int64 { return &n }

func checkProject(t *testing.T, s silo.Store, id string, used, reserved int64) {
	t.Helper()
	p, err := s.Project(ctx(t), id)
	must(t, err)
	if p.UsedBytes != used || p.ReservedBytes != reserved {
		t.Fatalf("project %s: used %d reserved %d, want used %d reserved %d", id, p.UsedBytes, p.ReservedBytes, used, reserved)
	}
}

func openIn(t *testing.T, s silo.Store, orgID, projectID string) *silo.Reservation {
	t.Helper()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, ProjectID: projectID, Node: "n1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.OpenReservation(ctx(t), r))
	return r
}

// wantQuota checks a refusal and the level that refused.
func wantQuota(t *testing.T, err error, project string, limit int64) {
	t.Helper()
	var qe *silo.QuotaError
	if !errors.As(err, &qe) || qe.Project != project || qe.LimitBytes != limit {
		t.Fatalf("got %v (%+v), want a refusal by %q (limit %d)", err, qe, project, limit)
	}
}

// testProjects: projects are created, listed, found and re-quoted; names
// are unique within an org only.
func testProjects(t *testing.T, s silo.Store) {
	org, other := newOrg(t, s, 100), newOrg(t, s, 100)
	a := newProject(t, s, org.ID, quota(60))
	b := newProject(t, s, org.ID, nil)
	dup := &silo.Project{ID: silo.NewID("prj_"), OrgID: org.ID, Name: a.Name, CreatedAt: t0}
	wantCode(t, s.CreateProject(ctx(t), dup), silo.ECONFLICT)
	dup.OrgID = other.ID
	must(t, s.CreateProject(ctx(t), dup)) // the same name in another org
	wantCode(t, s.CreateProject(ctx(t), &silo.Project{ID: silo.NewID("prj_"), OrgID: "org_nope", Name: "x", CreatedAt: t0}), silo.ENOTFOUND)

	got, err := s.Project(ctx(t), a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Project = %+v, want %+v", got, a)
	}
	_, err = s.Project(ctx(t), "prj_nope")
	wantCode(t, err, silo.ENOTFOUND)
	ps, err := s.Projects(ctx(t), org.ID)
	must(t, err)
	if len(ps) != 2 || ps[0].ID != a.ID && ps[1].ID != a.ID || ps[1].QuotaBytes != nil && ps[0].QuotaBytes != nil {
		t.Fatalf("Projects(org) = %+v", ps)
	}
	all, err := s.Projects(ctx(t), "")
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("Projects() = %d projects, want 3", len(all))
	}
	p, err := s.SetProjectQuota(ctx(t), b.ID, quota(7))
	must(t, err)
	if p.QuotaBytes == nil || *p.QuotaBytes != 7 {
		t.Fatalf("SetProjectQuota(7) = %+v", p)
	}
	p, err = s.SetProjectQuota(ctx(t), b.ID, nil)
	must(t, err)
	if p.QuotaBytes != nil {
		t.Fatalf("SetProjectQuota(nil) = %+v", p)
	}
	_, err = s.SetProjectQuota(ctx(t), "prj_nope", nil)
	wantCode(t, err, silo.ENOTFOUND)

	// Keys bound to a project: only to a project of the key's org; read
	// with the project's counters.
	secret := silo.NewSecret()
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: org.ID, ProjectID: a.ID, Role: silo.RoleWriter, Hash: silo.HashSecret(secret), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	wrong := &silo.Key{ID: silo.NewID("key_"), OrgID: other.ID, ProjectID: a.ID, Role: silo.RoleWriter, Hash: silo.HashSecret(silo.NewSecret()), CreatedAt: t0}
	wantCode(t, s.CreateKey(ctx(t), wrong), silo.ENOTFOUND)
	createIn(t, s, org.ID, a.ID, "d1", 25, t0)
	gk, gorg, err := s.KeyWithOrg(ctx(t), silo.HashSecret(secret))
	must(t, err)
	if gk.ProjectID != a.ID || gk.Project == nil || gk.Project.UsedBytes != 25 || gk.Project.QuotaBytes == nil ||
		*gk.Project.QuotaBytes != 60 || gk.Project.Name != a.Name || gorg.UsedBytes != 25 {
		t.Fatalf("KeyWithOrg = %+v project %+v org %+v", gk, gk.Project, gorg)
	}
	keys, err := s.Keys(ctx(t), org.ID)
	must(t, err)
	if len(keys) != 1 || keys[0].ProjectID != a.ID {
		t.Fatalf("Keys = %+v", keys)
	}
}

// testProjectReserve: a reservation in a project fits the project and the
// org, both counted in one step; the refusal names the level that refused
// and holds nothing at the other.
func testProjectReserve(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 100)
	a := newProject(t, s, org.ID, quota(60))
	b := newProject(t, s, org.ID, nil)
	ra := openIn(t, s, org.ID, a.ID)
	n, err := s.Reserve(ctx(t), ra.ID, 10, 80) // as much as the project allows
	must(t, err)
	if n != 60 {
		t.Fatalf("granted %d, want the project's 60", n)
	}
	checkProject(t, s, a.ID, 0, 60)
	checkCounters(t, s, org.ID, 0, 60)
	_, err = s.Reserve(ctx(t), ra.ID, 1, 1)
	wantQuota(t, err, a.Name, 60)
	checkProject(t, s, a.ID, 0, 60)
	checkCounters(t, s, org.ID, 0, 60)

	rb := openIn(t, s, org.ID, b.ID)
	n, err = s.Reserve(ctx(t), rb.ID, 1, 1000) // no project quota: the org's
	must(t, err)
	if n != 40 {
		t.Fatalf("granted %d, want the org's 40", n)
	}
	_, err = s.Reserve(ctx(t), rb.ID, 1, 1)
	wantQuota(t, err, "", 100)
	checkProject(t, s, b.ID, 0, 40)

	// Released: both levels give the bytes back.
	must(t, release(s, rb.ID, time.Time{}))
	checkProject(t, s, b.ID, 0, 0)
	checkCounters(t, s, org.ID, 0, 60)
	// The org refuses what the project would allow: nothing held anywhere.
	must(t, release(s, ra.ID, time.Time{}))
	r := openIn(t, s, org.ID, "")
	_, err = s.Reserve(ctx(t), r.ID, 70, 70)
	must(t, err)
	ra = openIn(t, s, org.ID, a.ID)
	_, err = s.Reserve(ctx(t), ra.ID, 40, 40)
	wantQuota(t, err, "", 100)
	checkProject(t, s, a.ID, 0, 0)
	checkCounters(t, s, org.ID, 0, 70)
	must(t, release(s, r.ID, time.Time{}))

	// Usage moves at both levels with a create and a delete, and each
	// level's history follows.
	d := createIn(t, s, org.ID, a.ID, "d1", 30, t0)
	checkProject(t, s, a.ID, 30, 0)
	checkCounters(t, s, org.ID, 30, 0)
	createIn(t, s, org.ID, "", "d2", 20, t0.Add(time.Second))
	checkProject(t, s, a.ID, 30, 0)
	checkCounters(t, s, org.ID, 50, 0)
	_, err = s.DeleteDataset(ctx(t), org.ID, d.ID)
	must(t, err)
	checkProject(t, s, a.ID, 0, 0)
	checkCounters(t, s, org.ID, 20, 0)
	hist, err := s.ProjectUsageHistory(ctx(t), a.ID, time.Time{}, 10)
	must(t, err)
	if len(hist) != 2 || hist[0].UsedBytes != 30 || hist[1].UsedBytes != 0 {
		t.Fatalf("project history %+v", hist)
	}

	// A project quota lowered below its usage refuses even zero bytes.
	createIn(t, s, org.ID, a.ID, "d3", 10, t0)
	_, err = s.SetProjectQuota(ctx(t), a.ID, quota(5))
	must(t, err)
	r = openIn(t, s, org.ID, a.ID)
	_, err = s.Reserve(ctx(t), r.ID, 0, 1)
	wantQuota(t, err, a.Name, 5)

	// Lists and the breakdown see projects.
	var ids []string
	must(t, s.Datasets(ctx(t), silo.DatasetFilter{OrgID: org.ID, ProjectID: a.ID}, func(d *silo.Dataset) error {
		ids = append(ids, d.ID+"/"+d.ProjectID)
		return nil
	}))
	if want := []string{"d3/" + a.ID}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("project list %v, want %v", ids, want)
	}
	groups, err := s.UsageBreakdown(ctx(t), org.ID)
	must(t, err)
	byProject := map[string]int64{}
	for _, g := range groups {
		byProject[g.ProjectID] += g.Bytes
	}
	if want := map[string]int64{a.ID: 10, "": 20}; !reflect.DeepEqual(byProject, want) {
		t.Fatalf("breakdown by project %v, want %v", byProject, want)
	}
	used, reserved, err := s.ProjectUsageSums(ctx(t))
	must(t, err)
	if used[a.ID] != 10 || reserved[a.ID] != 0 {
		t.Fatalf("ProjectUsageSums: used %v reserved %v", used, reserved)
	}
}

// testProjectReserveConcurrent: reservations racing in two projects whose
// quotas add up to more than the org's: no level ever goes over.
func testProjectReserveConcurrent(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 1000)
	ps := []*silo.Project{newProject(t, s, org.ID, quota(600)), newProject(t, s, org.ID, quota(700))}
	var mu sync.Mutex
	granted := map[string]int64{}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(p *silo.Project) {
			defer wg.Done()
			r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, ProjectID: p.ID, Node: "n", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
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
				mu.Lock()
				granted[p.ID] += n
				mu.Unlock()
			}
		}(ps[i%2])
	}
	wg.Wait()
	total := granted[ps[0].ID] + granted[ps[1].ID]
	checkCounters(t, s, org.ID, 0, total)
	for _, p := range ps {
		checkProject(t, s, p.ID, 0, granted[p.ID])
		if granted[p.ID] > *p.QuotaBytes {
			t.Fatalf("project granted %d over its quota %d", granted[p.ID], *p.QuotaBytes)
		}
	}
	if total > 1000 || total < 1000-7 {
		t.Fatalf("granted %d bytes against an org quota of 1000", total)
	}
}

// testDeleteProject: a project holding datasets is not deleted unless
// purged; deleting it revokes its keys, and purging it removes its
// datasets and uploads in flight at once, the org's counters with them.
func testDeleteProject(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 1000)
	a, b := newProject(t, s, org.ID, quota(500)), newProject(t, s, org.ID, nil)
	secret := silo.NewSecret()
	must(t, s.CreateKey(ctx(t), &silo.Key{ID: silo.NewID("key_"), OrgID: org.ID, ProjectID: a.ID, Role: silo.RoleWriter,
		Hash: silo.HashSecret(secret), CreatedAt: t0}))
	d := createIn(t, s, org.ID, a.ID, "d1", 100, t0)
	keep := createIn(t, s, org.ID, b.ID, "d2", 50, t0)
	createDataset(t, s, org.ID, "d3", 25, t0)
	r := openIn(t, s, org.ID, a.ID)
	pending := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, org.ID, pending))
	_, err := s.Reserve(ctx(t), r.ID, 10, 10)
	must(t, err)
	u := newUpload(s, org, 20, false)
	u.ProjectID = a.ID
	must(t, s.CreateUpload(ctx(t), u))
	checkCounters(t, s, org.ID, 175, 30)

	_, err = s.DeleteProject(ctx(t), a.ID, false, t0)
	wantCode(t, err, silo.ECONFLICT)
	checkProject(t, s, a.ID, 100, 30)
	removed, err := s.DeleteProject(ctx(t), a.ID, true, t0.Add(time.Minute))
	must(t, err)
	if len(removed) != 1 || removed[0].ID != d.ID {
		t.Fatalf("purge removed %+v", removed)
	}
	checkCounters(t, s, org.ID, 75, 0)
	_, err = s.Project(ctx(t), a.ID)
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.Dataset(ctx(t), org.ID, d.ID)
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.Upload(ctx(t), org.ID, u.ID)
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.Reserve(ctx(t), r.ID, 1, 1)
	wantCode(t, err, silo.ENOTFOUND)
	k, err := s.KeyByHash(ctx(t), silo.HashSecret(secret))
	must(t, err)
	if !k.Revoked() {
		t.Fatalf("a deleted project's key is not revoked: %+v", k)
	}
	l := ledger(t, s)
	for _, key := range []string{d.Parts[0].BlobKey, pending, u.BlobKey} {
		if l[key] != silo.BlobGarbage {
			t.Fatalf("blob %s of the purged project is %q, want garbage", key, l[key])
		}
	}
	if l[keep.Parts[0].BlobKey] != silo.BlobLive {
		t.Fatalf("another project's blob is %q", l[keep.Parts[0].BlobKey])
	}
	_, err = s.DeleteProject(ctx(t), a.ID, true, t0)
	wantCode(t, err, silo.ENOTFOUND)

	// An empty project goes without purge; the org's delete takes projects.
	c := newProject(t, s, org.ID, nil)
	_, err = s.DeleteProject(ctx(t), c.ID, false, t0)
	must(t, err)
	_, err = s.DeleteOrg(ctx(t), org.ID, true, t0)
	must(t, err)
	_, err = s.Project(ctx(t), b.ID)
	wantCode(t, err, silo.ENOTFOUND)
}

// testProjectUploads: a resumable upload reserves through the same
// two-level step, and joins only uploads of its own project.
func testProjectUploads(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 100)
	a, b := newProject(t, s, org.ID, quota(50)), newProject(t, s, org.ID, nil)
	over := newUpload(s, org, 51, false)
	over.ProjectID = a.ID
	wantQuota(t, s.CreateUpload(ctx(t), over), a.Name, 50)
	checkCounters(t, s, org.ID, 0, 0)

	pa, pb := newUpload(s, org, 20, true), newUpload(s, org, 10, true)
	pa.ProjectID, pb.ProjectID = a.ID, b.ID
	must(t, s.CreateUpload(ctx(t), pa))
	must(t, s.CreateUpload(ctx(t), pb))
	checkProject(t, s, a.ID, 0, 20)
	checkProject(t, s, b.ID, 0, 10)
	completeUpload(t, s, pa)
	completeUpload(t, s, pb)
	final := newUpload(s, org, 30, false)
	final.ProjectID = a.ID
	final.ReservationID = ""
	wantCode(t, s.ConcatUploads(ctx(t), final, []string{pa.ID, pb.ID}), silo.ENOTFOUND)

	u := newUpload(s, org, 25, false)
	u.ProjectID = a.ID
	must(t, s.CreateUpload(ctx(t), u))
	completeUpload(t, s, u)
	d := &silo.Dataset{ID: "d-up", OrgID: org.ID, ProjectID: b.ID, Name: "n", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, SizeBytes: 25,
		Parts: []silo.Part{{ID: "dp_1", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: u.BlobKey, SizeBytes: 25}}}
	wantCode(t, s.CreateDatasetFromUploads(ctx(t), d, []string{u.ID}), silo.ENOTFOUND)
	d.ProjectID = a.ID
	must(t, s.CreateDatasetFromUploads(ctx(t), d, []string{u.ID}))
	checkProject(t, s, a.ID, 25, 20)
	checkCounters(t, s, org.ID, 25, 30)
	must(t, s.DeleteUpload(ctx(t), org.ID, pa.ID))
	checkProject(t, s, a.ID, 25, 0)
	checkCounters(t, s, org.ID, 25, 10)
}
