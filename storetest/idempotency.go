package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// TestIdempotencyStore runs the conformance suite of silo.IdempotencyStore
// and of the Repairer methods fsck uses; open returns a fresh store that
// implements both.
func TestIdempotencyStore(t *testing.T, open OpenStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, silo.Store, silo.IdempotencyStore)
	}{
		{"ClaimAndReplay", testIdemClaim},
		{"DoneInCreateTransaction", testIdemCreate},
		{"TakeOver", testIdemTakeOver},
		{"Window", testIdemWindow},
		{"ConcurrentClaims", testIdemConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s, s.(silo.IdempotencyStore))
		})
	}
}

func idemRec(orgID, key, fp string, now time.Time) *silo.IdempotencyRecord {
	return &silo.IdempotencyRecord{OrgID: orgID, Key: key, Fingerprint: fp, State: silo.IdempotencyRunning,
		Claim: silo.NewID("idem_"), Node: "n1", LeaseUntil: now.Add(time.Minute), CreatedAt: now}
}

func claim(t *testing.T, is silo.IdempotencyStore, rec *silo.IdempotencyRecord, now time.Time) *silo.IdempotencyRecord {
	t.Helper()
	old, err := is.ClaimIdempotency(ctx(t), rec, now, now.Add(-silo.IdempotencyWindow))
	must(t, err)
	return old
}

// A first claim wins; a second sees it running; a stored refusal comes back
// byte for byte; a released key can be claimed again.
func testIdemClaim(t *testing.T, s silo.Store, is silo.IdempotencyStore) {
	org := newOrg(t, s, 1000)
	a := idemRec(org.ID, "k", "fp", t0)
	if old := claim(t, is, a, t0); old != nil {
		t.Fatalf("first claim found %+v", old)
	}
	old := claim(t, is, idemRec(org.ID, "k", "other", t0), t0)
	if old == nil || old.State != silo.IdempotencyRunning || old.Fingerprint != "fp" || old.Claim != a.Claim {
		t.Fatalf("second claim: %+v", old)
	}
	if old := claim(t, is, idemRec(newOrg(t, s, 1).ID, "k", "fp", t0), t0); old != nil {
		t.Fatalf("a key is per organisation, found %+v", old)
	}
	body := []byte(`{"message":"You have exceeded capacity"}` + "\n")
	wantCode(t, is.FinishIdempotency(ctx(t), org.ID, "k", "idem_not_mine", 400, body), silo.ENOTFOUND)
	must(t, is.FinishIdempotency(ctx(t), org.ID, "k", a.Claim, 400, body))
	old = claim(t, is, idemRec(org.ID, "k", "fp", t0), t0)
	if old == nil || old.State != silo.IdempotencyDone || old.Status != 400 || string(old.Body) != string(body) {
		t.Fatalf("replay: %+v", old)
	}
	b := idemRec(org.ID, "k2", "fp", t0)
	claim(t, is, b, t0)
	must(t, is.ReleaseIdempotency(ctx(t), org.ID, "k2", b.Claim))
	if old := claim(t, is, idemRec(org.ID, "k2", "fp", t0), t0); old != nil {
		t.Fatalf("released key still held: %+v", old)
	}
}

// The create transaction marks the record done with the dataset; a record
// without its reservation makes the create fail and store nothing.
func testIdemCreate(t *testing.T, s silo.Store, is silo.IdempotencyStore) {
	org := newOrg(t, s, 1000)
	rec := idemRec(org.ID, "k", "fp", t0)
	claim(t, is, rec, t0)
	r := openRes(t, s, org.ID, "n1", t0.Add(time.Hour))
	must(t, is.AttachIdempotency(ctx(t), org.ID, "k", rec.Claim, r.ID))
	_, err := s.Reserve(ctx(t), r.ID, 10, 10)
	must(t, err)
	d := &silo.Dataset{ID: "d-idem", OrgID: org.ID, Name: "d", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, SizeBytes: 10, IdempotencyKey: "k"}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	old := claim(t, is, idemRec(org.ID, "k", "fp", t0), t0)
	if old == nil || old.State != silo.IdempotencyDone || old.Status != 200 || old.DatasetID != "d-idem" {
		t.Fatalf("after the create: %+v", old)
	}
	// A create whose record is not attached to its reservation fails whole.
	r2 := openRes(t, s, org.ID, "n1", t0.Add(time.Hour))
	d2 := *d
	d2.ID, d2.IdempotencyKey = "d-orphan", "never-claimed"
	if err := s.CreateDataset(ctx(t), &d2, r2.ID); err == nil {
		t.Fatal("a create with an unclaimed key was stored")
	}
	if _, err := s.Dataset(ctx(t), org.ID, "d-orphan"); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("half a create stored: %v", err)
	}
	checkCounters(t, s, org.ID, 10, 0)
}

// A running record is taken over once its holder is dead: its lease ran
// out before it had a reservation, or its reservation was released.
func testIdemTakeOver(t *testing.T, s silo.Store, is silo.IdempotencyStore) {
	org := newOrg(t, s, 1000)
	live := idemRec(org.ID, "live", "fp", t0)
	claim(t, is, live, t0)
	if old := claim(t, is, idemRec(org.ID, "live", "fp", t0), t0); old == nil {
		t.Fatal("taken over while its lease holds")
	}
	// A holder that died at once: its lease ran out a second ago by the
	// store's clock (see testLeases).
	a := idemRec(org.ID, "lease", "fp", t0)
	a.LeaseUntil = t0.Add(-time.Second)
	claim(t, is, a, t0)
	if old := claim(t, is, idemRec(org.ID, "lease", "other", t0), t0); old == nil {
		t.Fatal("taken over with another fingerprint")
	}
	b := idemRec(org.ID, "lease", "fp", t0)
	if old := claim(t, is, b, t0); old != nil {
		t.Fatalf("not taken over after its lease: %+v", old)
	}
	wantCode(t, is.AttachIdempotency(ctx(t), org.ID, "lease", a.Claim, "res_x"), silo.ENOTFOUND)

	c := idemRec(org.ID, "res", "fp", t0)
	claim(t, is, c, t0)
	r := openRes(t, s, org.ID, "n1", t0.Add(time.Hour))
	must(t, is.AttachIdempotency(ctx(t), org.ID, "res", c.Claim, r.ID))
	if old := claim(t, is, idemRec(org.ID, "res", "fp", t0), t0.Add(time.Hour)); old == nil {
		t.Fatal("taken over while its reservation exists")
	}
	must(t, release(s, r.ID, time.Time{}))
	if old := claim(t, is, idemRec(org.ID, "res", "fp", t0), t0); old != nil {
		t.Fatalf("not taken over after its reservation was released: %+v", old)
	}
}

// Records older than the window are forgotten.
func testIdemWindow(t *testing.T, s silo.Store, is silo.IdempotencyStore) {
	org := newOrg(t, s, 1000)
	a := idemRec(org.ID, "k", "fp", t0)
	claim(t, is, a, t0)
	must(t, is.FinishIdempotency(ctx(t), org.ID, "k", a.Claim, 400, []byte("{}")))
	later := t0.Add(silo.IdempotencyWindow + time.Second)
	if old := claim(t, is, idemRec(org.ID, "k", "new", later), later); old != nil {
		t.Fatalf("a record older than the window was replayed: %+v", old)
	}
}

// Of many concurrent claims of one key, exactly one wins.
func testIdemConcurrent(t *testing.T, s silo.Store, is silo.IdempotencyStore) {
	org := newOrg(t, s, 1000)
	var mu sync.Mutex
	won := 0
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			old, err := is.ClaimIdempotency(ctx(t), idemRec(org.ID, "race", "fp", t0), t0, t0.Add(-time.Hour))
			if err != nil {
				t.Error(err)
				return
			}
			if old == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d claims won, want 1", won)
	}
}
