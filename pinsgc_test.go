package silo_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
)

// TestPinsDoNotStallGC: a backup pins more garbage blobs than one sweep
// batch holds (500); garbage that no backup pins, listed behind them, is
// still deleted, in one sweep. It failed before: every sweep got the same
// batch of pinned keys back and stopped there, so the unpinned garbage
// stayed (all 10 of 10 after 3 sweeps).
func TestPinsDoNotStallGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &silo.Service{Store: store, Blobs: blobs, Node: "n1"}
	org := &silo.Org{ID: silo.NewID("org_"), Name: "acme", QuotaBytes: 1 << 30, CreatedAt: time.Now()}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	res := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "n1", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := store.OpenReservation(ctx, res); err != nil {
		t.Fatal(err)
	}
	var pinned, free []string
	for i := 0; i < 600; i++ { // recorded first, so listed first
		k := silo.NewBlobKey()
		pinned = append(pinned, k)
		if err := store.AddPendingBlob(ctx, res.ID, org.ID, k); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		k := silo.NewBlobKey()
		free = append(free, k)
		if err := store.AddPendingBlob(ctx, res.ID, org.ID, k); err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Put(ctx, k, strings.NewReader("garbage")); err != nil {
			t.Fatal(err)
		}
	}
	if dropped, err := store.DropReservation(ctx, res.ID, time.Time{}); err != nil || !dropped {
		t.Fatalf("DropReservation = %v, %v", dropped, err)
	}
	unpin := svc.Pins.Pin(pinned)
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	state := map[string]silo.BlobState{}
	if err := store.Blobs(ctx, func(k string, s silo.BlobState) error { state[k] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, k := range free {
		if _, ok := state[k]; ok {
			left++
		}
	}
	if left != 0 || len(state) != len(pinned) {
		t.Fatalf("after a sweep with %d keys pinned: %d of %d unpinned garbage blobs left, %d ledger rows (want %d)",
			len(pinned), left, len(free), len(state), len(pinned))
	}
	unpin()
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := store.Blobs(ctx, func(string, silo.BlobState) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d ledger rows left once the backup let go", n)
	}
}
