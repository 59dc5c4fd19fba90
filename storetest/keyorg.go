package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// TestKeyWithOrg checks KeyOrgReader: the key and its org's counters as
// Org would read them at that moment (exact: a new dataset, a reservation,
// a revocation show in the next read, even with readers racing the write), a nil org once the org
// is deleted, ENOTFOUND for an unknown hash.
func TestKeyWithOrg(t *testing.T, open OpenStore) {
	s := open(t)
	t.Cleanup(func() { s.Close() })
	o := newOrg(t, s, 10_000)
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleReader, Name: "r", Hash: silo.HashSecret("ko-1"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	check := func(used, reserved int64, revoked bool) {
		t.Helper()
		gk, gorg, err := s.KeyWithOrg(ctx(t), k.Hash)
		must(t, err)
		want, err := s.Org(ctx(t), o.ID)
		must(t, err)
		if gk.ID != k.ID || gk.OrgID != o.ID || gk.Role != silo.RoleReader || gk.Name != "r" || !gk.CreatedAt.Equal(t0) || gk.Revoked() != revoked {
			t.Fatalf("key = %+v, want %+v revoked=%v", gk, k, revoked)
		}
		if gorg == nil || *gorg != *want || gorg.UsedBytes != used || gorg.ReservedBytes != reserved {
			t.Fatalf("org = %+v, want %+v (used %d, reserved %d)", gorg, want, used, reserved)
		}
	}
	check(0, 0, false)
	createDataset(t, s, o.ID, "ko-aaaaaa", 300, t0)
	check(300, 0, false)
	res := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	_, err := s.Reserve(ctx(t), res.ID, 50, 50)
	must(t, err)
	check(300, 50, false)
	_, err = s.RevokeKey(ctx(t), k.ID, t0.Add(time.Minute))
	must(t, err)
	check(300, 50, true)

	_, _, err = s.KeyWithOrg(ctx(t), silo.HashSecret("ko-nope"))
	wantCode(t, err, silo.ENOTFOUND)

	must(t, release(s, res.ID, time.Time{}))
	if _, err := s.DeleteOrg(ctx(t), o.ID, true, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	gk, gorg, err := s.KeyWithOrg(ctx(t), k.Hash)
	must(t, err)
	if gk.ID != k.ID || !gk.Revoked() || gorg != nil {
		t.Fatalf("after DeleteOrg: key %+v org %+v, want the revoked key and no org", gk, gorg)
	}
	t.Run("concurrent", func(t *testing.T) { testKeyWithOrgConcurrent(t, s) })
}

// testKeyWithOrgConcurrent: while readers look the key up without pause
// (so that a store which keeps a copy refills it all the time), every write
// is seen by the first read after it returns — a read that raced the write
// may not put the old row back.
func testKeyWithOrgConcurrent(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1<<40)
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Name: "w", Hash: silo.HashSecret("ko-2"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	res := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, _, err := s.KeyWithOrg(ctx(t), k.Hash); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}()
	for i := int64(1); i <= 200; i++ {
		if _, err := s.Reserve(ctx(t), res.ID, 1, 1); err != nil {
			t.Fatal(err)
		}
		_, got, err := s.KeyWithOrg(ctx(t), k.Hash)
		must(t, err)
		if got.ReservedBytes != i {
			t.Fatalf("after reserving %d bytes one at a time, KeyWithOrg says %d reserved", i, got.ReservedBytes)
		}
	}
	if _, err := s.RevokeKey(ctx(t), k.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if gk, _, err := s.KeyWithOrg(ctx(t), k.Hash); err != nil || !gk.Revoked() {
		t.Fatalf("right after the revocation: key %+v, err %v; want it revoked", gk, err)
	}
}
