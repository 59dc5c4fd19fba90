package storetest

import (
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// TestKeyWithOrg checks KeyOrgReader: the key and its org's counters as
// Org would read them at that moment (nothing cached: a new dataset, a
// reservation, a revocation show in the next read), a nil org once the org
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
}
