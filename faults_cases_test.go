package silo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	fs "github.com/silo-datasets/silo/internal/faultstore"
)

// Each test below injects faults at one store call of one operation (fail
// before the work, hang until the deadline, commit and lose the answer),
// then clears them and checks that everything settles by itself within
// the lease: see faultEnv.settled.

var okCodes = want("", silo.EUNAVAILABLE, silo.ETIMEOUT)

func checkAnswer(t *testing.T, op string, err error, allowed map[string]bool) {
	t.Helper()
	if !allowed[silo.ErrorCode(err)] {
		t.Fatalf("%s answered %v (code %q)", op, err, silo.ErrorCode(err))
	}
}

// TestFaultsCreate: faults at every store call of a create.
func TestFaultsCreate(t *testing.T) {
	var cases [][]fault
	for _, m := range []string{"OpenReservation", "AddPendingBlob", "Reserve", "HoldPendingBlobs", "CreateDataset", "Blobs.Put"} {
		for _, mode := range []fs.Mode{fs.Fail, fs.Hang, fs.Lose} {
			if m == "Blobs.Put" && mode == fs.Hang {
				continue // an upload's body has no deadline; the body idle timeout is the API's
			}
			cases = append(cases, []fault{{m, mode, 1, 0}})
		}
	}
	// The create's outcome cannot be learnt: 504, and it settles.
	cases = append(cases,
		[]fault{{"CreateDataset", fs.Lose, 1, 0}, {"DropReservation", fs.Fail, -1, 0}},
		[]fault{{"CreateDataset", fs.Fail, 1, 0}, {"DropReservation", fs.Fail, -1, 0}},
		[]fault{{"CreateDataset", fs.Hang, 1, 0}, {"DropReservation", fs.Hang, -1, 0}},
		[]fault{{"CreateDataset", fs.Lose, 1, 0}, {"DropReservation", fs.Lose, -1, 0}, {"Dataset", fs.Fail, -1, 0}},
	)
	// The file stored but its Put's answer lost, and the delete of what it
	// left failing once: the blob stays garbage for the sweep, which must
	// not wait out the hold of a write that has returned.
	cases = append(cases, []fault{{"Blobs.Put", fs.Lose, 1, 0}, {"Blobs.Delete", fs.Fail, 1, 0}})
	runCases(t, cases, func(t *testing.T, fc []fault) {
		e := startFaulty(t)
		for _, f := range fc {
			e.F.Set(f.method, f.mode, f.times)
		}
		_, err := e.create(t.Context(), true)
		checkAnswer(t, "create", err, okCodes)
		e.settled(t)
		// And the service works again.
		e.mustCreate(t, false)
		e.settled(t)
	})
}

// TestFaultsCreateUnknown: a create whose commit answer is lost and whose
// outcome cannot be learnt is answered 504, and its blobs are not deleted:
// the dataset (which did commit) stays whole.
func TestFaultsCreateUnknown(t *testing.T) {
	e := startFaulty(t)
	e.F.Set("CreateDataset", fs.Lose, 1)
	e.F.Set("DropReservation", fs.Fail, -1)
	e.F.Set("Dataset", fs.Fail, -1)
	_, err := e.create(t.Context(), false)
	checkAnswer(t, "create", err, want(silo.ETIMEOUT))
	if !strings.Contains(silo.ErrorMessage(err), "Idempotency-Key") {
		t.Fatalf("a 504 without advice: %v", err)
	}
	e.settled(t)
	n := 0
	if err := e.st.Datasets(t.Context(), silo.DatasetFilter{OrgID: e.orgID}, func(*silo.Dataset) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d datasets after a create whose commit went through, want 1", n)
	}
}

// TestFaultsDelete: faults at the delete's commit.
func TestFaultsDelete(t *testing.T) {
	runCases(t, [][]fault{
		{{"DeleteDataset", fs.Fail, 1, 0}},
		{{"DeleteDataset", fs.Hang, 1, 0}},
		{{"DeleteDataset", fs.Lose, 1, 0}},
		{{"DeleteDataset", fs.Lose, -1, 0}},
		{{"DeleteDataset", fs.Fail, -1, 0}}, // refuses writes, answers reads: 503, nothing changed
		{{"Blobs.Delete", fs.Fail, -1, 0}},
		{{"Blobs.Delete", fs.Lose, -1, 0}},
		{{"ForgetBlobs", fs.Lose, -1, 0}},
		{{"GarbageBlobs", fs.Fail, -1, 0}},
	}, func(t *testing.T, fc []fault) {
		e := startFaulty(t)
		id := e.mustCreate(t, true)
		for _, f := range fc {
			e.F.Set(f.method, f.mode, f.times)
		}
		err := e.delete(t.Context(), id)
		switch {
		case fc[0].method == "DeleteDataset" && fc[0].mode == fs.Fail:
			// The dataset is still there to read: the delete changed
			// nothing, and says so at once.
			checkAnswer(t, "delete", err, want(silo.EUNAVAILABLE))
		default:
			checkAnswer(t, "delete", err, want(""))
		}
		e.svc.Sweep(t.Context()) // under the fault too
		e.settled(t)
		if err := e.delete(t.Context(), id); err != nil && silo.ErrorCode(err) != silo.ENOTFOUND {
			t.Fatalf("repeated delete: %v", err)
		}
		e.settled(t)
	})
}

// TestFaultsValidate: faults at every store and blob call of a
// validation; the dataset ends validated (its file is fine), not failed.
func TestFaultsValidate(t *testing.T) {
	var cases [][]fault
	for _, m := range []string{"ClaimJob", "Dataset", "AddJobBlob", "FinishJob"} {
		for _, mode := range []fs.Mode{fs.Fail, fs.Hang, fs.Lose} {
			cases = append(cases, []fault{{m, mode, 1, 0}})
		}
	}
	cases = append(cases,
		[]fault{{"Blobs.Open", fs.Fail, 1, 0}},
		// After the upload's two files: the Avro parts.
		[]fault{{"Blobs.Put", fs.Fail, 1, 2}},
		[]fault{{"Blobs.Put", fs.Lose, 1, 2}},
		[]fault{{"FinishJob", fs.Fail, 3, 0}}, // backoff between attempts
		[]fault{{"FinishJob", fs.Lose, 1, 0}, {"RetryJob", fs.Fail, -1, 0}},
		[]fault{{"FinishJob", fs.Fail, 1, 0}, {"RetryJob", fs.Fail, 1, 0}}, // the lease lapses
		[]fault{{"FinishJob", fs.Hang, 1, 0}, {"RetryJob", fs.Lose, 1, 0}},
		[]fault{{"FinishJob", fs.Lose, 1, 0}, {"Blobs.Delete", fs.Fail, -1, 0}},
		[]fault{{"RenewJobs", fs.Fail, -1, 0}, {"FinishJob", fs.Hang, 2, 0}},
	)
	runCases(t, cases, func(t *testing.T, fc []fault) {
		e := startFaulty(t)
		for _, f := range fc {
			e.F.SetAfter(f.method, f.skip, f.mode, f.times)
		}
		e.mustCreate(t, true)
		e.waitHits(t, fc[0].method, max(fc[0].times, 1))
		e.settled(t)
	})
}

// TestFaultsRelease: faults at the release of an upload that failed, and
// at the sweep's release of an upload whose node died.
func TestFaultsRelease(t *testing.T) {
	for _, mode := range []fs.Mode{fs.Fail, fs.Hang, fs.Lose} {
		t.Run("Abort-"+mode.String(), func(t *testing.T) {
			t.Parallel()
			e := startFaulty(t)
			e.F.Set("DropReservation", mode, 1)
			err := e.createNoData(t.Context())
			checkAnswer(t, "create without data", err, want(silo.EINVALID))
			e.settled(t)
		})
		t.Run("Sweep-"+mode.String(), func(t *testing.T) {
			t.Parallel()
			e := startFaulty(t)
			// An upload of a node that dies: no one renews its lease.
			dead := &silo.Service{Store: e.svc.Store, Blobs: e.svc.Blobs, Node: "dead", LeaseTTL: faultLease()}
			u, err := dead.BeginUpload(t.Context(), e.c, silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := u.AddFile(t.Context(), silo.PartTrain, "d.jsonl", strings.NewReader(faultRows)); err != nil {
				t.Fatal(err)
			}
			e.F.Set("DropReservation", mode, 1)
			e.F.Set("ExpiredReservations", fs.Fail, 1)
			e.waitHits(t, "DropReservation", 1)
			e.settled(t)
		})
	}
}

// TestLeasesOfDeadWork: a reservation whose release failed is not kept
// alive by the live node's heartbeat: it lapses and that node's own sweep
// releases it, without a restart.
func TestLeasesOfDeadWork(t *testing.T) {
	e := startFaulty(t)
	e.F.Set("DropReservation", fs.Fail, 1)
	if err := e.createNoData(context.Background()); silo.ErrorCode(err) != silo.EINVALID {
		t.Fatal(err)
	}
	o, err := e.st.Org(t.Context(), e.orgID)
	if err != nil {
		t.Fatal(err)
	}
	if o.ReservedBytes == 0 {
		t.Fatal("the failed release released anyway; nothing to test")
	}
	e.settled(t)
}
