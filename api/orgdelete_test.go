package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/fsck"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestDeleteOrg: DELETE /v1/admin/orgs/{id} refuses an org with datasets
// (409) and changes nothing; with purge=true the datasets go (usage with
// them, files removed), the org's keys answer 498, another org keeps
// everything, and fsck finds the store consistent.
func TestDeleteOrg(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	ctx := t.Context()
	admin := client.New(e.URL, e.AdminKey)
	aID, aKey := e.Org(t, "doomed", 1_000_000, silo.RoleWriter)
	bID, bKey := e.Org(t, "kept", 1_000_000, silo.RoleWriter)
	a, b := client.New(e.URL, aKey), client.New(e.URL, bKey)
	var aBlobs []string
	for _, name := range []string{"one", "two"} {
		id, _, err := a.Upload(ctx, client.UploadRequest{Name: name, Type: "embed-input", Data: file(name+".jsonl", "{\"text\":\"x\"}\n{\"text\":\"y\"}\n")})
		mustOK(t, err)
		d := e.WaitValidated(t, aID, id)
		for _, p := range d.Parts {
			aBlobs = append(aBlobs, p.BlobKey, p.AvroKey)
		}
	}
	keptID, _, err := b.Upload(ctx, client.UploadRequest{Name: "keep", Type: "embed-input", Data: file("k.jsonl", "{\"text\":\"k\"}\n")})
	mustOK(t, err)
	e.WaitJobs(t)
	before := e.Usage(t, aID).UsedBytes
	if before == 0 {
		t.Fatal("org has no usage before the delete")
	}

	err = admin.DeleteOrg(ctx, aID, false)
	wantStatus(t, err, 409)
	if !strings.Contains(err.Error(), "purge=true") {
		t.Errorf("409 message does not say how: %v", err)
	}
	if got := e.Usage(t, aID).UsedBytes; got != before {
		t.Fatalf("a refused delete changed usage: %d, want %d", got, before)
	}
	_, _, err = a.Usage(ctx)
	mustOK(t, err)
	wantStatus(t, a.DeleteOrg(ctx, bID, true), 403)                    // writers cannot
	wantStatus(t, admin.DeleteOrg(ctx, e.Admin(t).OrgID(), true), 409) // nor an admin its own org
	wantStatus(t, admin.DeleteOrg(ctx, "org_nope", true), 404)

	mustOK(t, admin.DeleteOrg(ctx, aID, true))
	_, _, err = a.Usage(ctx)
	wantStatus(t, err, 498)
	orgs, _, err := admin.Orgs(ctx)
	mustOK(t, err)
	for _, o := range orgs {
		if o.ID == aID {
			t.Fatalf("the deleted org is still listed: %+v", o)
		}
	}
	keys, _, err := admin.Keys(ctx, aID)
	mustOK(t, err)
	for _, k := range keys {
		if k.RevokedAt == nil {
			t.Fatalf("key %s of the deleted org is not revoked", k.ID)
		}
	}
	sums, err := e.Store.UsageSums(ctx)
	mustOK(t, err)
	if sums[aID] != 0 {
		t.Fatalf("usage of the deleted org = %d, want 0", sums[aID])
	}
	waitBlobsGone(t, e, aBlobs) // the sweep deletes them after the answer
	wantStatus(t, admin.DeleteOrg(ctx, aID, true), 404)
	wantStatus(t, admin.DeleteOrg(ctx, bID, false), 409)

	// The other org is untouched.
	u, _, err := b.Usage(ctx)
	mustOK(t, err)
	if u.OrganizationUsage != int64(len("{\"text\":\"k\"}\n")) {
		t.Fatalf("other org's usage = %d", u.OrganizationUsage)
	}
	if _, _, err := b.Get(ctx, keptID); err != nil {
		t.Fatal(err)
	}

	rep, err := (&fsck.Checker{Store: e.Store, Blobs: e.Blobs}).Check(context.Background())
	mustOK(t, err)
	if !rep.OK() {
		t.Fatalf("fsck after purge: %v", rep.Findings)
	}

	// An empty org goes without purge, and its name is free again.
	emptyID, _ := e.Org(t, "empty", 0, silo.RoleReader)
	mustOK(t, admin.DeleteOrg(ctx, emptyID, false))
	_, _, err = admin.CreateOrg(ctx, "empty", nil)
	mustOK(t, err)
}

// waitBlobsGone waits until none of keys is in the blob store and the
// ledger holds no garbage (the sweep deleted and forgot them all).
func waitBlobsGone(t *testing.T, e *silotest.Env, keys []string) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := 0
		for _, k := range keys {
			if _, err := e.Blobs.Open(ctx, k, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
				left++
			}
		}
		garbage, err := e.Store.GarbageBlobs(ctx, 1)
		mustOK(t, err)
		if left == 0 && len(garbage) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the delete %d of %d blobs remain, garbage in the ledger: %v", left, len(keys), garbage)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heldDeletes is a blob store whose deletes wait until release is called:
// it shows whether an answer waited for the files.
type heldDeletes struct {
	silo.BlobStore
	release chan struct{}
}

func (h *heldDeletes) Delete(ctx context.Context, key string) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.BlobStore.Delete(ctx, key)
}

// TestPurgeAnswersBeforeFiles: an org purge answers once its transaction
// has committed, with every file delete still held back, and the files go
// in the background afterwards (as a dataset delete's do). It used to
// delete them inside the request: a large org answered after the request's
// deadline, and a retry got 404 for a delete that had happened.
func TestPurgeAnswersBeforeFiles(t *testing.T) {
	held := &heldDeletes{release: make(chan struct{})}
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		held.BlobStore = s.Service.Blobs
		s.Service.Blobs = held
	}})
	ctx := t.Context()
	orgID, key := e.Org(t, "purged", 0, silo.RoleWriter)
	w := client.New(e.URL, key)
	var blobs []string
	for _, name := range []string{"one", "two", "three"} {
		id, _, err := w.Upload(ctx, client.UploadRequest{Name: name, Type: "embed-input", Data: file(name+".jsonl", "{\"text\":\"x\"}\n")})
		mustOK(t, err)
		for _, p := range e.WaitValidated(t, orgID, id).Parts {
			blobs = append(blobs, p.BlobKey, p.AvroKey)
		}
	}
	answered := make(chan error, 1)
	go func() { answered <- client.New(e.URL, e.AdminKey).DeleteOrg(ctx, orgID, true) }()
	select {
	case err := <-answered:
		mustOK(t, err)
	case <-time.After(20 * time.Second):
		close(held.release)
		t.Fatal("the purge did not answer while its files' deletes were held: it waits for the blob store")
	}
	for _, k := range blobs {
		if _, err := e.Blobs.Open(ctx, k, 0, -1); err != nil {
			t.Fatalf("blob %s was gone when the purge answered, with every delete held: %v", k, err)
		}
	}
	if _, err := e.Store.Org(ctx, orgID); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("the purged org after the answer: %v, want not found", err)
	}
	close(held.release)
	waitBlobsGone(t, e, blobs)
}
