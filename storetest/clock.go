package storetest

import (
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// TestSharedClock runs the suite of a store that several nodes share
// (silo.LeaseStore: leases run on the store's clock, not the callers').
// Two nodes call it with clocks that disagree by twice the lease, the slow
// one as far back as t0: the fast one, sweeping, claiming, taking over
// keys and locking uploads by its clock, takes nothing the slow one holds; work the slow one
// let lapse is taken at once. A store of one process (SQLite) runs on its
// caller's clock and does not run this suite.
func TestSharedClock(t *testing.T, open OpenStore) {
	t.Run("SkewedNodes", func(t *testing.T) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		testSkewedNodes(t, s)
	})
}

func testSkewedNodes(t *testing.T, s silo.Store) {
	const ttl = time.Minute
	slow, fast := t0, t0.Add(2*ttl)
	o := newOrg(t, s, 1000)
	is := s.(silo.IdempotencyStore)

	// The slow node's work: an upload, a validation, a create's key, a
	// resumable upload being written.
	held := openRes(t, s, o.ID, "slow", slow.Add(ttl))
	_, err := s.Reserve(ctx(t), held.ID, 10, 10)
	must(t, err)
	createDataset(t, s, o.ID, "c-aaaaaa", 10, t0)
	job, err := s.ClaimJob(ctx(t), "slow", slow, slow.Add(ttl))
	must(t, err)
	if job == nil {
		t.Fatal("the slow node claimed nothing")
	}
	key := idemRec(o.ID, "k", "fp", slow)
	if old := claim(t, is, key, slow); old != nil {
		t.Fatalf("the slow node's claim found %+v", old)
	}
	up := newUpload(s, o, 10, false)
	up.CreatedAt, up.ExpiresAt = slow, slow.Add(ttl)
	must(t, s.CreateUpload(ctx(t), up))
	_, err = s.LockUpload(ctx(t), o.ID, up.ID, "slow", slow, slow.Add(ttl))
	must(t, err)

	// The fast node sweeps, claims and retries the key by its clock.
	exp, err := s.ExpiredReservations(ctx(t), fast)
	must(t, err)
	if len(exp) != 0 {
		t.Fatalf("the fast node sees the slow node's live reservation as expired: %+v", exp)
	}
	if ok, err := s.DropReservation(ctx(t), held.ID, fast); err != nil || ok {
		t.Fatalf("the fast node released the slow node's live reservation: %v, %v", ok, err)
	}
	if j, err := s.ClaimJob(ctx(t), "fast", fast, fast.Add(ttl)); err != nil || j != nil {
		t.Fatalf("the fast node took the slow node's live job: %+v, %v", j, err)
	}
	if old := claim(t, is, idemRec(o.ID, "k", "fp", fast), fast); old == nil || old.Claim != key.Claim {
		t.Fatalf("the fast node took over the slow node's live key: %+v", old)
	}
	if _, err := s.LockUpload(ctx(t), o.ID, up.ID, "fast", fast, fast.Add(ttl)); silo.ErrorCode(err) != silo.ELOCKED {
		t.Fatalf("the fast node's lock of the slow node's upload: %v, want locked", err)
	}
	if exp, err := s.ExpiredUploads(ctx(t), fast, 10); err != nil || len(exp) != 0 {
		t.Fatalf("the fast node sees the slow node's live upload as expired: %+v, %v", exp, err)
	}
	must(t, s.DeleteUpload(ctx(t), o.ID, up.ID))
	checkCounters(t, s, o.ID, 10, 10)
	must(t, s.RenewReservations(ctx(t), []string{held.ID}, slow, slow.Add(ttl)))
	must(t, s.RenewJobs(ctx(t), []*silo.Job{job}, slow, slow.Add(ttl)))

	// What the slow node lets lapse, the fast node takes at once.
	must(t, s.RenewReservations(ctx(t), []string{held.ID}, slow, slow.Add(-time.Second)))
	must(t, s.RenewJobs(ctx(t), []*silo.Job{job}, slow, slow.Add(-time.Second)))
	exp, err = s.ExpiredReservations(ctx(t), fast)
	must(t, err)
	if len(exp) != 1 || exp[0].ID != held.ID {
		t.Fatalf("expired = %+v, want the lapsed %s", exp, held.ID)
	}
	if ok, err := s.DropReservation(ctx(t), held.ID, fast); err != nil || !ok {
		t.Fatalf("drop of a lapsed reservation: %v, %v", ok, err)
	}
	if j, err := s.ClaimJob(ctx(t), "fast", fast, fast.Add(ttl)); err != nil || j == nil || j.DatasetID != job.DatasetID {
		t.Fatalf("claim of the lapsed job: %+v, %v", j, err)
	}
	checkCounters(t, s, o.ID, 10, 0)
}
