package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testLeasesOfWork: only the listed jobs and reservations are renewed;
// another attempt's job is not. The reservations start lapsed and the
// second job's lease is renewed into the past (its work died), all judged
// at the store's now (see testLeases).
func testLeasesOfWork(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	lapsed := t0.Add(-time.Second)
	live := openRes(t, s, o.ID, "n1", lapsed)
	dead := openRes(t, s, o.ID, "n1", lapsed) // same node, no goroutine holds it
	createDataset(t, s, o.ID, "l-aaaaaa", 10, t0)
	createDataset(t, s, o.ID, "l-bbbbbb", 10, t0.Add(time.Second))
	j1, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	j2, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	if j1 == nil || j2 == nil {
		t.Fatalf("claims: %+v, %+v", j1, j2)
	}
	must(t, s.RenewJobs(ctx(t), []*silo.Job{j2}, t0, lapsed))
	stale := *j2
	stale.Attempt++ // an attempt that does not hold the job
	must(t, s.RenewReservations(ctx(t), []string{live.ID, "res_gone"}, t0, t0.Add(time.Hour)))
	must(t, s.RenewJobs(ctx(t), []*silo.Job{j1, &stale}, t0, t0.Add(time.Hour)))
	must(t, s.RenewReservations(ctx(t), nil, t0, t0.Add(time.Hour)))
	must(t, s.RenewJobs(ctx(t), nil, t0, t0.Add(time.Hour)))

	exp, err := s.ExpiredReservations(ctx(t), t0)
	must(t, err)
	if len(exp) != 1 || exp[0].ID != dead.ID {
		t.Fatalf("expired = %+v, want only %s", exp, dead.ID)
	}
	j, err := s.ClaimJob(ctx(t), "n2", t0, t0.Add(time.Minute))
	must(t, err)
	if j == nil || j.DatasetID != j2.DatasetID {
		t.Fatalf("claim after the lapse = %+v, want the job of %s", j, j2.DatasetID)
	}
	if j, err := s.ClaimJob(ctx(t), "n2", t0, t0.Add(time.Minute)); err != nil || j != nil {
		t.Fatalf("the renewed job was claimed: %+v, %v", j, err)
	}
}

// testRetryJob: a job handed back waits for its time, its attempt's
// pending blobs are garbage, its dataset queued; one handed back with no
// wait is claimable at once.
func testRetryJob(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	d := createDataset(t, s, o.ID, "r-aaaaaa", 10, t0)
	j, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	partial := silo.NewBlobKey()
	must(t, s.AddJobBlob(ctx(t), j, partial))
	notBefore := t0.Add(time.Hour)
	must(t, s.RetryJob(ctx(t), j, t0, notBefore))
	wantCode(t, s.RetryJob(ctx(t), j, t0, notBefore), silo.ENOTFOUND) // no longer this attempt's
	wantCode(t, s.AddJobBlob(ctx(t), j, silo.NewBlobKey()), silo.ENOTFOUND)
	d.Status = silo.StatusValidated
	wantCode(t, s.FinishJob(ctx(t), j, d), silo.ENOTFOUND)
	if st := ledger(t, s)[partial]; st != silo.BlobGarbage {
		t.Fatalf("the retried attempt's blob is %q, want garbage", st)
	}
	got, err := s.Dataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if got.Status != silo.StatusQueued {
		t.Fatalf("status after retry: %s", got.Status)
	}
	if n, _ := s.PendingJobs(ctx(t)); n != 1 {
		t.Fatalf("PendingJobs after retry = %d", n)
	}
	if j, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute)); err != nil || j != nil {
		t.Fatalf("claimed before its backoff: %+v, %v", j, err)
	}

	d2 := createDataset(t, s, o.ID, "r-bbbbbb", 10, t0)
	j, err = s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	if j == nil || j.DatasetID != d2.ID {
		t.Fatalf("claim of the second job = %+v", j)
	}
	must(t, s.RetryJob(ctx(t), j, t0, t0.Add(-time.Millisecond)))
	j2, err := s.ClaimJob(ctx(t), "n2", t0, t0.Add(time.Minute))
	must(t, err)
	if j2 == nil || j2.DatasetID != d2.ID || j2.Attempt != j.Attempt+1 {
		t.Fatalf("claim after the backoff = %+v", j2)
	}
}

// release drops a reservation for a test that does not ask whether it was
// still there.
func release(s silo.Store, resID string, expiredBefore time.Time) error {
	_, err := s.DropReservation(context.Background(), resID, expiredBefore)
	return err
}

// testDropReservation: a release says whether it removed a reservation, so
// that a caller deletes blobs only when the store says they are garbage.
func testDropReservation(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Minute))
	key := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, key))
	_, err := s.Reserve(ctx(t), r.ID, 10, 10)
	must(t, err)
	if ok, err := s.DropReservation(ctx(t), r.ID, t0); err != nil || ok {
		t.Fatalf("drop of a reservation whose lease runs = %v, %v", ok, err)
	}
	if ok, err := s.DropReservation(ctx(t), r.ID, time.Time{}); err != nil || !ok {
		t.Fatalf("drop = %v, %v", ok, err)
	}
	if st := ledger(t, s)[key]; st != silo.BlobGarbage {
		t.Fatalf("blob after drop: %q", st)
	}
	checkCounters(t, s, o.ID, 0, 0)
	if ok, err := s.DropReservation(ctx(t), r.ID, time.Time{}); err != nil || ok {
		t.Fatalf("second drop = %v, %v", ok, err)
	}
	// A reservation a create committed is not there to drop: its blobs stay live.
	d := createDataset(t, s, o.ID, "p-aaaaaa", 10, t0)
	all, err := s.Reservations(ctx(t))
	must(t, err)
	if len(all) != 0 {
		t.Fatalf("reservations after create: %+v", all)
	}
	if st := ledger(t, s)[d.Parts[0].BlobKey]; st != silo.BlobLive {
		t.Fatalf("blob after create: %q", st)
	}
}
