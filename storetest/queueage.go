package storetest

import (
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testOldestJob: the queue's age is that of its oldest unfinished job, and
// none once every job is gone.
func testOldestJob(t *testing.T, s silo.Store) {
	at, err := s.OldestJob(ctx(t))
	must(t, err)
	if !at.IsZero() {
		t.Fatalf("OldestJob of an empty queue = %v", at)
	}
	o := newOrg(t, s, 1000)
	first := createDataset(t, s, o.ID, "old-aaaaaa", 10, t0)
	createDataset(t, s, o.ID, "new-aaaaaa", 10, t0.Add(time.Minute))
	at, err = s.OldestJob(ctx(t))
	must(t, err)
	if !at.Equal(t0) {
		t.Fatalf("OldestJob = %v, want %v", at, t0)
	}
	_, err = s.DeleteDataset(ctx(t), o.ID, first.ID)
	must(t, err)
	at, err = s.OldestJob(ctx(t))
	must(t, err)
	if !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("OldestJob after the oldest went = %v, want %v", at, t0.Add(time.Minute))
	}
}
