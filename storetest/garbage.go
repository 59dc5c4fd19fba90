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
	got, err := s.GarbageBlobs(ctx(t), "", 10)
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
		page, err := s.GarbageBlobs(ctx(t), after, 3)
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
