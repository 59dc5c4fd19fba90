package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testGarbagePaging: GarbageBlobs lists garbage in key order from after, so
// that a sweep that must leave some keys (pinned by a backup) pages past
// them; pending and live keys are never listed.
func testGarbagePaging(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1<<30)
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: o.ID, Node: "n1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.OpenReservation(ctx(t), r))
	var keys []string
	for i := 0; i < 7; i++ {
		k := silo.NewBlobKey()
		keys = append(keys, k)
		must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, k))
	}
	got, err := s.GarbageBlobs(ctx(t), t0, "", 10)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("pending blobs listed as garbage: %v", got)
	}
	dropped, err := s.DropReservation(ctx(t), r.ID, time.Time{})
	must(t, err)
	if !dropped {
		t.Fatal("DropReservation did not drop")
	}
	slices.Sort(keys)
	var paged []string
	for after := ""; ; {
		page, err := s.GarbageBlobs(ctx(t), t0, after, 3)
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("page of %d with limit 3", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, keys) {
		t.Fatalf("paged garbage = %v, want %v in key order", paged, keys)
	}
	must(t, s.ForgetBlobs(ctx(t), keys))
}

// testBlobHold: a pending blob held (its file ended, the writer's last
// request may still land) and then released is garbage that GarbageBlobs
// lists only once the hold ran out; a reservation released before the hold
// is asked for answers ENOTFOUND; a blob that goes live holds nothing any
// more, so a dataset deleted at once has its blob listed at once.
func testBlobHold(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1<<30)
	pend := func() (*silo.Reservation, string) {
		r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
		k := silo.NewBlobKey()
		must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, k))
		return r, k
	}
	held, kHeld := pend()
	ran, kRan := pend()
	plain, kPlain := pend()
	must(t, s.HoldPendingBlobs(ctx(t), held.ID, t0, t0.Add(time.Hour)))
	must(t, s.HoldPendingBlobs(ctx(t), ran.ID, t0, t0.Add(-time.Second))) // a hold that ran out
	for _, r := range []*silo.Reservation{held, ran, plain} {
		dropped, err := s.DropReservation(ctx(t), r.ID, time.Time{})
		must(t, err)
		if !dropped {
			t.Fatalf("reservation %s not dropped", r.ID)
		}
	}
	if l := ledger(t, s); l[kHeld] != silo.BlobGarbage {
		t.Fatalf("a held blob released is %q, want garbage", l[kHeld])
	}
	got, err := s.GarbageBlobs(ctx(t), t0, "", 10)
	must(t, err)
	want := []string{kRan, kPlain}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("garbage listed = %v, want %v (not the held %s)", got, want, kHeld)
	}
	wantCode(t, s.HoldPendingBlobs(ctx(t), held.ID, t0, t0.Add(time.Hour)), silo.ENOTFOUND)
	// Its writer's requests returned: listed from now on.
	must(t, s.EndBlobHolds(ctx(t), []string{kHeld}))
	got, err = s.GarbageBlobs(ctx(t), t0, "", 10)
	must(t, err)
	if !slices.Contains(got, kHeld) {
		t.Fatalf("garbage listed = %v: %s still held after EndBlobHolds", got, kHeld)
	}
	empty := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	wantCode(t, s.HoldPendingBlobs(ctx(t), empty.ID, t0, t0.Add(time.Hour)), silo.ENOTFOUND)

	// Held, then committed, then deleted: listed at once.
	r, k := pend()
	must(t, s.HoldPendingBlobs(ctx(t), r.ID, t0, t0.Add(time.Hour)))
	d := &silo.Dataset{
		ID: "held-abcdef", OrgID: o.ID, Name: "held", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, SizeBytes: 0,
		Parts: []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: k}},
	}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	_, err = s.DeleteDataset(ctx(t), o.ID, d.ID)
	must(t, err)
	got, err = s.GarbageBlobs(ctx(t), t0, "", 10)
	must(t, err)
	if !slices.Contains(got, k) {
		t.Fatalf("garbage listed = %v: the deleted dataset's blob %s is still held", got, k)
	}
}
