package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// createDataset runs an upload's store calls: reservation, pending blob,
// reserve, create.
func createDataset(t *testing.T, s silo.Store, orgID, id string, size int64, at time.Time) *silo.Dataset {
	t.Helper()
	return createIn(t, s, orgID, "", id, size, at)
}

// createIn is createDataset in a project ("" none).
func createIn(t *testing.T, s silo.Store, orgID, projectID, id string, size int64, at time.Time) *silo.Dataset {
	t.Helper()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, ProjectID: projectID, Node: "n1", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	must(t, s.OpenReservation(ctx(t), r))
	key := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, orgID, key))
	if size > 0 {
		_, err := s.Reserve(ctx(t), r.ID, size, size+10) // over-reserve like an upload with framing
		must(t, err)
	}
	d := &silo.Dataset{
		ID: id, OrgID: orgID, ProjectID: projectID, Name: "n " + id, Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: at, UpdatedAt: at, ClientName: "tests", SizeBytes: size,
		Params: silo.CreateParams{KeepOriginalFile: true, KeepFields: []string{"a"}},
		Parts:  []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: key, SizeBytes: size, SHA256: "ab"}},
	}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	return d
}

func ledger(t *testing.T, s silo.Store) map[string]silo.BlobState {
	t.Helper()
	m := map[string]silo.BlobState{}
	must(t, s.Blobs(ctx(t), func(k string, st silo.BlobState) error { m[k] = st; return nil }))
	return m
}

func testDatasetLifecycle(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	d := createDataset(t, s, o.ID, "a-aaaaaa", 100, t0)
	checkCounters(t, s, o.ID, 100, 0)
	got, err := s.Dataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("Dataset round trip:\n got %+v\nwant %+v", got, d)
	}
	if st := ledger(t, s)[d.Parts[0].BlobKey]; st != silo.BlobLive {
		t.Fatalf("blob state after create: %q", st)
	}
	other := newOrg(t, s, 1000)
	_, err = s.Dataset(ctx(t), other.ID, d.ID)
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.DeleteDataset(ctx(t), other.ID, d.ID)
	wantCode(t, err, silo.ENOTFOUND)
	checkCounters(t, s, o.ID, 100, 0)

	// A second dataset with the same id is a conflict and changes nothing.
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	wantCode(t, s.CreateDataset(ctx(t), &silo.Dataset{ID: d.ID, OrgID: o.ID, Name: "x", Type: silo.TypeEmbedInput,
		Status: silo.StatusQueued, CreatedAt: t0, UpdatedAt: t0, SizeBytes: 0}, r.ID), silo.ECONFLICT)
	checkCounters(t, s, o.ID, 100, 0)
	must(t, release(s, r.ID, time.Time{}))
	wantCode(t, s.CreateDataset(ctx(t), &silo.Dataset{ID: "z-zzzzzz", OrgID: o.ID, Name: "x", Type: silo.TypeEmbedInput,
		Status: silo.StatusQueued, CreatedAt: t0, UpdatedAt: t0}, r.ID), silo.ENOTFOUND)

	sums, err := s.UsageSums(ctx(t))
	must(t, err)
	if sums[o.ID] != 100 {
		t.Fatalf("UsageSums = %v", sums)
	}
	gone, err := s.DeleteDataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if gone.SizeBytes != 100 || len(gone.Parts) != 1 {
		t.Fatalf("DeleteDataset returned %+v", gone)
	}
	checkCounters(t, s, o.ID, 0, 0)
	_, err = s.Dataset(ctx(t), o.ID, d.ID)
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.DeleteDataset(ctx(t), o.ID, d.ID)
	wantCode(t, err, silo.ENOTFOUND)
	garbage, err := s.GarbageBlobs(ctx(t), t0, "", 10)
	must(t, err)
	if len(garbage) != 1 || garbage[0] != d.Parts[0].BlobKey {
		t.Fatalf("garbage after delete: %v", garbage)
	}
	must(t, s.ForgetBlobs(ctx(t), garbage))
	if l := ledger(t, s); len(l) != 0 {
		t.Fatalf("ledger after forget: %v", l)
	}
	hist, err := s.UsageHistory(ctx(t), o.ID, time.Time{}, 10)
	must(t, err)
	if len(hist) != 2 || hist[0].UsedBytes != 100 || hist[1].UsedBytes != 0 {
		t.Fatalf("usage history = %+v", hist)
	}
	hist, err = s.UsageHistory(ctx(t), o.ID, time.Time{}, 1)
	must(t, err)
	if len(hist) != 1 || hist[0].UsedBytes != 0 {
		t.Fatalf("usage history limited to the newest = %+v", hist)
	}
}

func testRelease(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	key := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, key))
	_, err := s.Reserve(ctx(t), r.ID, 40, 40)
	must(t, err)
	checkCounters(t, s, o.ID, 0, 40)
	if st := ledger(t, s)[key]; st != silo.BlobPending {
		t.Fatalf("state before release: %q", st)
	}
	all, err := s.Reservations(ctx(t))
	must(t, err)
	if len(all) != 1 || all[0].Bytes != 40 || all[0].Node != "n1" {
		t.Fatalf("Reservations = %+v", all)
	}
	must(t, release(s, r.ID, time.Time{}))
	must(t, release(s, r.ID, time.Time{})) // twice is fine
	checkCounters(t, s, o.ID, 0, 0)
	if st := ledger(t, s)[key]; st != silo.BlobGarbage {
		t.Fatalf("state after release: %q", st)
	}
	_, err = s.Reserve(ctx(t), r.ID, 1, 1)
	wantCode(t, err, silo.ENOTFOUND)
	// A released reservation (a sweep took it) gains no more blobs.
	wantCode(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, silo.NewBlobKey()), silo.ENOTFOUND)
}

// testLeases: a reservation's lease runs from the store's now (t0 here,
// the database's clock on a shared store; see silo.LeaseStore): only the
// one that was not renewed lapses. Time cannot be made to pass on a
// database's clock, so a lapse is a lease renewed into the past.
func testLeases(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	r1 := openRes(t, s, o.ID, "n1", t0.Add(time.Minute))
	r2 := openRes(t, s, o.ID, "n2", t0.Add(time.Minute))
	exp, err := s.ExpiredReservations(ctx(t), t0)
	must(t, err)
	if len(exp) != 0 {
		t.Fatalf("expired too early: %+v", exp)
	}
	must(t, s.RenewReservations(ctx(t), []string{r1.ID}, t0, t0.Add(time.Hour)))
	must(t, s.RenewReservations(ctx(t), []string{r2.ID}, t0, t0.Add(-time.Second)))
	exp, err = s.ExpiredReservations(ctx(t), t0)
	must(t, err)
	if len(exp) != 1 || exp[0].ID != r2.ID {
		t.Fatalf("expired = %+v, want only %s", exp, r2.ID)
	}
	// A conditional release leaves a reservation whose lease was renewed
	// after the sweep listed it.
	_, err = s.Reserve(ctx(t), r1.ID, 10, 10)
	must(t, err)
	must(t, release(s, r1.ID, t0))
	checkCounters(t, s, o.ID, 0, 10)
	must(t, release(s, r2.ID, t0))
	if all, _ := s.Reservations(ctx(t)); len(all) != 1 || all[0].ID != r1.ID {
		t.Fatalf("after conditional releases: %+v", all)
	}
}

func testList(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1e9)
	other := newOrg(t, s, 1e9)
	var ids []string
	for i := 0; i < 5; i++ {
		d := createDataset(t, s, o.ID, "d-"+string(rune('a'+i))+"aaaaa", 10, t0.Add(time.Duration(i)*time.Second))
		ids = append(ids, d.ID)
	}
	// Same created_at: ordered by id descending.
	createDataset(t, s, o.ID, "e-zzzzzz", 1, t0.Add(4*time.Second))
	createDataset(t, s, other.ID, "x-xxxxxx", 1, t0)
	list := func(f silo.DatasetFilter) []string {
		t.Helper()
		f.OrgID = o.ID
		var got []string
		must(t, s.Datasets(ctx(t), f, func(d *silo.Dataset) error { got = append(got, d.ID); return nil }))
		return got
	}
	at := func(sec int) *time.Time { x := t0.Add(time.Duration(sec) * time.Second); return &x }
	// A keyset cursor continues after the dataset it names: a tie on
	// created_at goes on by id, and the microseconds of created_at count.
	after := func(sec int, id string) *silo.ListCursor {
		return &silo.ListCursor{CreatedAt: *at(sec), ID: id}
	}
	for _, tc := range []struct {
		name string
		f    silo.DatasetFilter
		want []string
	}{
		{"all", silo.DatasetFilter{}, []string{"e-zzzzzz", ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"limit", silo.DatasetFilter{Limit: 2}, []string{"e-zzzzzz", ids[4]}},
		{"offset", silo.DatasetFilter{Limit: 2, Offset: 2}, []string{ids[3], ids[2]}},
		{"offset only", silo.DatasetFilter{Offset: 4}, []string{ids[1], ids[0]}},
		{"before", silo.DatasetFilter{Before: at(2)}, []string{ids[1], ids[0]}},
		{"after", silo.DatasetFilter{After: at(3)}, []string{"e-zzzzzz", ids[4]}},
		{"window", silo.DatasetFilter{After: at(0), Before: at(3)}, []string{ids[2], ids[1]}},
		{"type", silo.DatasetFilter{Type: silo.TypeChatFinetune}, nil},
		{"status", silo.DatasetFilter{Status: silo.StatusQueued, Limit: 1}, []string{"e-zzzzzz"}},
		{"status none", silo.DatasetFilter{Status: silo.StatusValidated}, nil},
		{"cursor tie", silo.DatasetFilter{Cursor: after(4, "e-zzzzzz"), Limit: 2}, []string{ids[4], ids[3]}},
		{"cursor", silo.DatasetFilter{Cursor: after(4, ids[4])}, []string{ids[3], ids[2], ids[1], ids[0]}},
		{"cursor micros", silo.DatasetFilter{Cursor: &silo.ListCursor{CreatedAt: t0.Add(2*time.Second + time.Microsecond), ID: "a"}}, []string{ids[2], ids[1], ids[0]}},
		{"cursor and filters", silo.DatasetFilter{Cursor: after(3, ids[3]), After: at(0), Status: silo.StatusQueued}, []string{ids[2], ids[1]}},
		{"cursor at the end", silo.DatasetFilter{Cursor: after(0, ids[0])}, nil},
	} {
		if got := list(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testJobs(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	d := createDataset(t, s, o.ID, "j-aaaaaa", 10, t0)
	n, err := s.PendingJobs(ctx(t))
	must(t, err)
	if n != 1 {
		t.Fatalf("PendingJobs = %d", n)
	}
	now := t0
	j1, err := s.ClaimJob(ctx(t), "n1", now, now.Add(time.Minute))
	must(t, err)
	if j1 == nil || j1.DatasetID != d.ID || j1.OrgID != o.ID || j1.Attempt != 1 {
		t.Fatalf("ClaimJob = %+v", j1)
	}
	got, err := s.Dataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if got.Status != silo.StatusProcessing {
		t.Fatalf("status after claim: %s", got.Status)
	}
	if j, err := s.ClaimJob(ctx(t), "n2", now, now.Add(time.Minute)); err != nil || j != nil {
		t.Fatalf("second claim while leased = %+v, %v", j, err)
	}
	stale := silo.NewBlobKey()
	must(t, s.AddJobBlob(ctx(t), j1, stale))
	// n1's own jobs stay leased when n1 requeues the others'.
	must(t, s.RequeueJobs(ctx(t), "n1"))
	if j, err := s.ClaimJob(ctx(t), "n2", now, now.Add(time.Minute)); err != nil || j != nil {
		t.Fatalf("claim after the owner requeued others' jobs = %+v, %v", j, err)
	}
	// n1 dies: n2 claims the job once the lease is over (its last renewal
	// ran out a second ago).
	must(t, s.RenewJobs(ctx(t), []*silo.Job{j1}, now, now.Add(-time.Second)))
	j2, err := s.ClaimJob(ctx(t), "n2", now, now.Add(time.Minute))
	must(t, err)
	if j2 == nil || j2.Attempt != 2 || j2.Owner != "n2" {
		t.Fatalf("reclaim = %+v", j2)
	}
	if st := ledger(t, s)[stale]; st != silo.BlobGarbage {
		t.Fatalf("the dead attempt's blob is %q, want garbage", st)
	}
	wantCode(t, s.AddJobBlob(ctx(t), j1, silo.NewBlobKey()), silo.ENOTFOUND)
	avro := silo.NewBlobKey()
	must(t, s.AddJobBlob(ctx(t), j2, avro))
	done := *got
	done.Status, done.UpdatedAt = silo.StatusValidated, now.Add(time.Minute)
	done.Parts = append([]silo.Part(nil), got.Parts...)
	done.Parts[0].NumRows, done.Parts[0].AvroKey, done.Parts[0].OriginalDropped = 3, avro, true
	done.Report = silo.Report{Schema: `{"type":"record"}`, Warnings: []string{"w"}, Metrics: json.RawMessage(`{"a":1}`)}
	wantCode(t, s.FinishJob(ctx(t), j1, &done), silo.ENOTFOUND) // the dead attempt
	must(t, s.FinishJob(ctx(t), j2, &done))
	got, err = s.Dataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if got.Status != silo.StatusValidated || got.Parts[0].NumRows != 3 || got.Report.Schema == "" || string(got.Report.Metrics) != `{"a":1}` {
		t.Fatalf("after finish: %+v", got)
	}
	l := ledger(t, s)
	if l[avro] != silo.BlobLive || l[d.Parts[0].BlobKey] != silo.BlobGarbage {
		t.Fatalf("ledger after finish: %v", l)
	}
	if n, _ := s.PendingJobs(ctx(t)); n != 0 {
		t.Fatalf("PendingJobs after finish = %d", n)
	}
	if j, err := s.ClaimJob(ctx(t), "n2", now, now.Add(time.Hour)); err != nil || j != nil {
		t.Fatalf("claim after finish = %+v, %v", j, err)
	}
}

func testRequeue(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	createDataset(t, s, o.ID, "q-aaaaaa", 10, t0)
	j1, err := s.ClaimJob(ctx(t), "dead", t0, t0.Add(time.Hour))
	must(t, err)
	// A restarted embedded server takes the dead process's job at once.
	must(t, s.RequeueJobs(ctx(t), "restarted"))
	j2, err := s.ClaimJob(ctx(t), "restarted", t0, t0.Add(time.Hour))
	must(t, err)
	if j1 == nil || j2 == nil || j2.DatasetID != j1.DatasetID || j2.Attempt != 2 {
		t.Fatalf("claims %+v then %+v", j1, j2)
	}
}

func testJobDeleted(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	d := createDataset(t, s, o.ID, "k-aaaaaa", 10, t0)
	j, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	key := silo.NewBlobKey()
	must(t, s.AddJobBlob(ctx(t), j, key))
	_, err = s.DeleteDataset(ctx(t), o.ID, d.ID)
	must(t, err)
	d.Status = silo.StatusValidated
	wantCode(t, s.FinishJob(ctx(t), j, d), silo.ENOTFOUND)
	wantCode(t, s.AddJobBlob(ctx(t), j, silo.NewBlobKey()), silo.ENOTFOUND)
	if st := ledger(t, s)[key]; st != silo.BlobGarbage {
		t.Fatalf("the job's blob after delete: %q", st)
	}
	checkCounters(t, s, o.ID, 0, 0)
}

func testExpiry(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	d := createDataset(t, s, o.ID, "x-aaaaaa", 10, t0)
	exp, err := s.ExpiredDatasets(ctx(t), t0.Add(time.Hour), 10)
	must(t, err)
	if len(exp) != 0 {
		t.Fatalf("a dataset without expiry expired: %v", exp)
	}
	r := openRes(t, s, o.ID, "n", t0.Add(time.Hour))
	until := t0.Add(time.Minute)
	e := &silo.Dataset{ID: "y-aaaaaa", OrgID: o.ID, Name: "y", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: &until}
	must(t, s.CreateDataset(ctx(t), e, r.ID))
	exp, err = s.ExpiredDatasets(ctx(t), t0.Add(30*time.Second), 10)
	must(t, err)
	if len(exp) != 0 {
		t.Fatalf("expired early: %v", exp)
	}
	exp, err = s.ExpiredDatasets(ctx(t), t0.Add(2*time.Minute), 10)
	must(t, err)
	if len(exp) != 1 || exp[0].ID != e.ID || exp[0].ExpiresAt == nil || !exp[0].ExpiresAt.Equal(until) {
		t.Fatalf("ExpiredDatasets = %+v", exp)
	}
	_ = d
}

func testSettings(t *testing.T, s silo.Store) {
	v, err := s.Setting(ctx(t), "secret", "one")
	must(t, err)
	v2, err := s.Setting(ctx(t), "secret", "two")
	must(t, err)
	if v != "one" || v2 != "one" {
		t.Fatalf("Setting = %q then %q, want one twice", v, v2)
	}
	must(t, s.Ping(ctx(t)))
}

// testCreateMarksPartsLive: a create makes its parts' blobs live and any
// other blob pending under its reservation (a concatenation's final blob
// whose copy failed) garbage: nothing refers to it, so nothing is orphaned.
func testCreateMarksPartsLive(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	part, stray := silo.NewBlobKey(), silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, part))
	must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, stray))
	_, err := s.Reserve(ctx(t), r.ID, 10, 10)
	must(t, err)
	d := &silo.Dataset{ID: "d-parts", OrgID: o.ID, Name: "n", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, SizeBytes: 10,
		Parts: []silo.Part{{ID: "dp_1", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: part, SizeBytes: 10}}}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	if l := ledger(t, s); l[part] != silo.BlobLive || l[stray] != silo.BlobGarbage {
		t.Fatalf("ledger after the create: part %q, stray %q; want live, garbage", l[part], l[stray])
	}
}
