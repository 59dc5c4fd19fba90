package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testLastAdmin checks that a store never lets the last unrevoked admin key
// go, by revocation or with its org, and changes nothing when it refuses;
// while another admin key remains, both are allowed.
func testLastAdmin(t *testing.T, s silo.Store) {
	at := t0.Add(time.Hour)
	a := newOrg(t, s, 100)
	a1 := newKey(t, s, a.ID, silo.RoleAdmin)
	w := newKey(t, s, a.ID, silo.RoleWriter)
	if _, err := s.RevokeKey(ctx(t), w.ID, at); err != nil {
		t.Fatalf("revoking a writer key beside an admin key: %v", err)
	}
	if _, err := s.RevokeKey(ctx(t), a1.ID, at); !errors.Is(err, silo.ErrLastAdmin) {
		t.Fatalf("revoking the last admin key: %v, want ErrLastAdmin", err)
	}
	if _, err := s.DeleteOrg(ctx(t), a.ID, true, at); !errors.Is(err, silo.ErrLastAdmin) {
		t.Fatalf("deleting the org of the last admin key: %v, want ErrLastAdmin", err)
	}
	if got, err := s.KeyByHash(ctx(t), a1.Hash); err != nil || got.Revoked() {
		t.Fatalf("after the refusals the last admin key is %+v, %v; want it unrevoked", got, err)
	}
	if _, err := s.Org(ctx(t), a.ID); err != nil {
		t.Fatalf("after the refusal its org: %v", err)
	}

	b := newOrg(t, s, 100)
	b1 := newKey(t, s, b.ID, silo.RoleAdmin)
	if _, err := s.DeleteOrg(ctx(t), a.ID, true, at); err != nil {
		t.Fatalf("deleting an admin key's org while another org holds one: %v", err)
	}
	if _, err := s.RevokeKey(ctx(t), a1.ID, at); err != nil {
		t.Fatalf("revoking a key of a deleted org again (idempotent): %v", err)
	}
	if _, err := s.RevokeKey(ctx(t), b1.ID, at); !errors.Is(err, silo.ErrLastAdmin) {
		t.Fatalf("revoking the last admin key, once the other went with its org: %v, want ErrLastAdmin", err)
	}
	b2 := newKey(t, s, b.ID, silo.RoleAdmin)
	if _, err := s.DeleteOrg(ctx(t), b.ID, true, at); !errors.Is(err, silo.ErrLastAdmin) {
		t.Fatalf("deleting the one org with admin keys: %v, want ErrLastAdmin", err)
	}
	if _, err := s.RevokeKey(ctx(t), b1.ID, at); err != nil {
		t.Fatalf("revoking one of two admin keys: %v", err)
	}
	if n := unrevokedAdmins(t, s); n != 1 {
		t.Fatalf("%d unrevoked admin keys, want 1 (%s)", n, b2.ID)
	}
}

// testLastAdminConcurrent races two changes that each take one of the only
// two unrevoked admin keys away (revocations, org deletes, one of each),
// round after round: exactly one may succeed, the other gets ErrLastAdmin,
// and one admin key is always left. A check read outside the change's
// transaction (or under a snapshot that misses the other's commit) lets
// both through.
func testLastAdminConcurrent(t *testing.T, s silo.Store) {
	at := t0.Add(time.Hour)
	home := newOrg(t, s, 100)
	survivor := newKey(t, s, home.ID, silo.RoleAdmin)
	kinds := []string{"revoke/revoke", "revoke/delete", "delete/delete"}
	for round := range 24 {
		kind := kinds[round%len(kinds)]
		var orgs [2]*silo.Org
		var keys [2]*silo.Key
		for i := range orgs {
			orgs[i] = newOrg(t, s, 100)
			keys[i] = newKey(t, s, orgs[i].ID, silo.RoleAdmin)
		}
		// Now the survivor of the last round may go: two others remain.
		if _, err := s.RevokeKey(ctx(t), survivor.ID, at); err != nil {
			t.Fatalf("round %d: revoking the last round's survivor: %v", round, err)
		}
		start := make(chan struct{})
		errs := make(chan error, 2)
		for i := range 2 {
			del := kind == "delete/delete" || (kind == "revoke/delete" && i == 1)
			go func() {
				<-start
				if del {
					_, err := s.DeleteOrg(ctx(t), orgs[i].ID, true, at)
					errs <- err
					return
				}
				_, err := s.RevokeKey(ctx(t), keys[i].ID, at)
				errs <- err
			}()
		}
		close(start)
		var ok, refused int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, silo.ErrLastAdmin):
				refused++
			default:
				t.Fatalf("round %d (%s): %v", round, kind, err)
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d (%s): %d succeeded and %d were refused; want one of each", round, kind, ok, refused)
		}
		if n := unrevokedAdmins(t, s); n != 1 {
			t.Fatalf("round %d (%s): %d unrevoked admin keys left, want 1", round, kind, n)
		}
		for _, k := range keys {
			if got, err := s.KeyByHash(ctx(t), k.Hash); err == nil && !got.Revoked() {
				survivor = got
			}
		}
	}
}

func newKey(t *testing.T, s silo.Store, orgID string, role silo.Role) *silo.Key {
	t.Helper()
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: orgID, Role: role, Name: string(role), Hash: silo.HashSecret(silo.NewSecret()), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	return k
}

func unrevokedAdmins(t *testing.T, s silo.Store) int {
	t.Helper()
	keys, err := s.Keys(ctx(t), "")
	must(t, err)
	n := 0
	for _, k := range keys {
		if k.Role == silo.RoleAdmin && !k.Revoked() {
			n++
		}
	}
	return n
}
