package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
)

// seed creates an org and n queued datasets through the store calls an
// upload makes; it returns the org and the dataset ids.
func seed(t *testing.T, s *postgres.Store, n int) (*silo.Org, []string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	org := &silo.Org{ID: silo.NewID("org_"), Name: silo.NewID("o"), QuotaBytes: 1 << 40, CreatedAt: now}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < n; i++ {
		r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "n", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		key := silo.NewBlobKey()
		d := &silo.Dataset{ID: fmt.Sprintf("d-%06d", i), OrgID: org.ID, Name: "d", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
			CreatedAt: now.Add(time.Duration(i) * time.Microsecond), UpdatedAt: now, SizeBytes: 10,
			Parts: []silo.Part{{ID: "p", BlobKey: key, SizeBytes: 10}}}
		for _, err := range []error{
			s.OpenReservation(ctx, r),
			s.AddPendingBlob(ctx, r.ID, org.ID, key),
			func() error { _, err := s.Reserve(ctx, r.ID, 10, 10); return err }(),
			s.CreateDataset(ctx, d, r.ID),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, d.ID)
	}
	return org, ids
}

// Nodes claim side by side (SKIP LOCKED): every job is claimed exactly once,
// and no claimer ever waits for or fails on another's claim.
func TestClaimAcrossNodes(t *testing.T) {
	const jobs, nodes, workers = 60, 3, 12
	url := testenv.Postgres(t)
	stores := make([]*postgres.Store, nodes)
	for i := range stores {
		stores[i] = open(t, url)
		defer stores[i].Close()
	}
	_, ids := seed(t, stores[0], jobs)
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%nodes]
			owner := fmt.Sprint("node", w%nodes)
			for {
				now := time.Now()
				j, err := s.ClaimJob(context.Background(), owner, now, now.Add(time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				claimed[j.DatasetID]++
				mu.Unlock()
				if j.Attempt != 1 {
					t.Errorf("job %s claimed at attempt %d", j.DatasetID, j.Attempt)
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if claimed[id] != 1 {
			t.Errorf("job %s claimed %d times", id, claimed[id])
		}
	}
}

// Deleting datasets while other nodes claim and finish their jobs locks
// rows in conflicting places; nothing may fail and the counters stay exact.
func TestDeleteWhileJobsRun(t *testing.T) {
	const jobs = 80
	url := testenv.Postgres(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	org, ids := seed(t, a, jobs)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				now := time.Now()
				j, err := b.ClaimJob(ctx, "worker", now, now.Add(time.Hour))
				if err != nil {
					t.Error(err)
					return
				}
				if j == nil {
					return
				}
				if err := b.AddJobBlob(ctx, j, silo.NewBlobKey()); err != nil && silo.ErrorCode(err) != silo.ENOTFOUND {
					t.Error(err)
				}
				d, err := b.Dataset(ctx, j.OrgID, j.DatasetID)
				if silo.ErrorCode(err) == silo.ENOTFOUND {
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				d.Status, d.UpdatedAt = silo.StatusValidated, time.Now()
				d.Parts[0].OriginalDropped = true
				if err := b.FinishJob(ctx, j, d); err != nil && silo.ErrorCode(err) != silo.ENOTFOUND {
					t.Error(err)
				}
			}
		}()
	}
	var deleted int64
	for i, id := range ids {
		if i%2 == 0 {
			if _, err := a.DeleteDataset(ctx, org.ID, id); err != nil {
				t.Fatal(err)
			}
			deleted += 10
		}
	}
	wg.Wait()
	o, err := a.Org(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(jobs*10) - deleted; o.UsedBytes != want || o.ReservedBytes != 0 {
		t.Fatalf("org used %d reserved %d, want used %d reserved 0", o.UsedBytes, o.ReservedBytes, want)
	}
	if n, err := a.PendingJobs(ctx); err != nil || n != 0 {
		t.Fatalf("PendingJobs = %d, %v", n, err)
	}
	states := map[string]silo.BlobState{}
	if err := a.Blobs(ctx, func(k string, st silo.BlobState) error { states[k] = st; return nil }); err != nil {
		t.Fatal(err)
	}
	for k, st := range states {
		if st == silo.BlobPending {
			t.Errorf("blob %s still pending after every job ended", k)
		}
	}
}

// An upload whose reservation a sweep has released learns it when it
// records its next blob, instead of writing a blob nothing refers to.
func TestPendingBlobOfReleasedReservation(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	defer s.Close()
	ctx := context.Background()
	org, _ := seed(t, s, 0)
	now := time.Now()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "dead", CreatedAt: now, ExpiresAt: now}
	if err := s.OpenReservation(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DropReservation(ctx, r.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPendingBlob(ctx, r.ID, org.ID, silo.NewBlobKey()); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("AddPendingBlob under a released reservation: %v, want ENOTFOUND", err)
	}
}
