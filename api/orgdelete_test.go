package api_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
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
		garbage, err := e.Store.GarbageBlobs(ctx, time.Now(), "", 1)
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

// vanishing is a store that deletes (purges) an organisation, or a
// project, just before the first call of one method: it vanishes under a
// create that is at that step, as when an admin purges it meanwhile.
type vanishing struct {
	silo.Store
	mu                       sync.Mutex
	method, orgID, projectID string // purge projectID, or else orgID, at the next call of method
}

func (v *vanishing) at(ctx context.Context, method string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.method != method {
		return false
	}
	v.method = ""
	var err error
	if v.projectID != "" {
		_, err = v.Store.DeleteProject(context.WithoutCancel(ctx), v.projectID, true, time.Now())
	} else {
		_, err = v.Store.DeleteOrg(context.WithoutCancel(ctx), v.orgID, true, time.Now())
	}
	if err != nil {
		panic(err)
	}
	return true
}

func (v *vanishing) OpenReservation(ctx context.Context, r *silo.Reservation) error {
	v.at(ctx, "OpenReservation")
	return v.Store.OpenReservation(ctx, r)
}

func (v *vanishing) Reserve(ctx context.Context, resID string, need, want int64) (int64, error) {
	v.at(ctx, "Reserve")
	return v.Store.Reserve(ctx, resID, need, want)
}

func (v *vanishing) AddPendingBlob(ctx context.Context, resID, orgID, key string) error {
	v.at(ctx, "AddPendingBlob")
	return v.Store.AddPendingBlob(ctx, resID, orgID, key)
}

func (v *vanishing) CreateDataset(ctx context.Context, d *silo.Dataset, resID string) error {
	v.at(ctx, "CreateDataset")
	return v.Store.CreateDataset(ctx, d, resID)
}

func (v *vanishing) CreateUpload(ctx context.Context, u *silo.ResumableUpload) error {
	v.at(ctx, "CreateUpload")
	return v.Store.CreateUpload(ctx, u)
}

func (v *vanishing) UnlockUpload(ctx context.Context, id, owner string) error {
	v.at(ctx, "UnlockUpload")
	return v.Store.UnlockUpload(ctx, id, owner)
}

// vanishingBlobs fails a write whose org vanished the way a purge's sweep
// makes it fail: the file it was writing deleted from under it.
type vanishingBlobs struct {
	silo.BlobStore
	v *vanishing
}

func (b *vanishingBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if b.v.at(ctx, "Blobs.Put") {
		io.Copy(io.Discard, r)
		return 0, fmt.Errorf("disk: rename %s: %w", key, os.ErrNotExist)
	}
	return b.BlobStore.Put(ctx, key, r)
}

// Append and Seal pass to the real store (resumable uploads need them);
// Append fails as S3 does once a purge's sweep aborted the multipart
// upload under it.
func (b *vanishingBlobs) Append(ctx context.Context, key string, state []byte, offset, length int64, r io.Reader) ([]byte, int64, error) {
	if b.v.at(ctx, "Blobs.Append") {
		io.Copy(io.Discard, r)
		return nil, 0, fmt.Errorf("s3: upload part 1 of %s: The specified multipart upload does not exist.", key)
	}
	return b.BlobStore.(silo.Appender).Append(ctx, key, state, offset, length, r)
}

func (b *vanishingBlobs) Seal(ctx context.Context, key string, state []byte, length int64) error {
	return b.BlobStore.(silo.Appender).Seal(ctx, key, state, length)
}

// TestCreateWhoseOrgVanished: a create whose key was valid when it began,
// and whose organisation is purged at each step of it in turn (and a
// resumable upload's creation likewise), answers 404 saying so and stores
// nothing; before, the steps answered 500 (the
// foreign key of a reservation to a deleted org; a write swept away) or
// 503 (the reservation taken for one a sweep released).
func TestCreateWhoseOrgVanished(t *testing.T) {
	v := &vanishing{}
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		v.Store = s.Service.Store
		s.Service.Store = v
		s.Service.Blobs = &vanishingBlobs{BlobStore: s.Service.Blobs, v: v}
	}})
	for _, step := range []string{"OpenReservation", "Reserve", "AddPendingBlob", "Blobs.Put", "CreateDataset", "CreateUpload", "UnlockUpload", "Blobs.Append"} {
		t.Run(step, func(t *testing.T) {
			orgID, key := e.Org(t, "vanishing-"+step, 0, silo.RoleWriter)
			v.mu.Lock()
			v.method, v.orgID = step, orgID
			v.mu.Unlock()
			var st int
			var out map[string]any
			if step == "UnlockUpload" || step == "Blobs.Append" { // the last PATCH of an upload that is to become a dataset
				st, out = lastPatch(t, e, key)
			} else if step == "CreateUpload" { // a resumable upload's creation
				req := newRequest(t, "POST", e.URL+"/v1/uploads", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Upload-Length", "100")
				st, out = do(t, req)
			} else {
				b, ct := multipartBody(t, [2]string{"data", embedJSONL})
				st, out = create(t, e, key, "name=late&type=embed-input", b, ct)
			}
			v.mu.Lock()
			missed := v.method != ""
			v.mu.Unlock()
			if missed {
				t.Fatalf("the create never reached %s: %d %v", step, st, out)
			}
			if st != 404 || !strings.Contains(fmt.Sprint(out["message"]), "was deleted") {
				t.Fatalf("a create whose org was purged at %s: %d %v, want 404 saying the organization was deleted", step, st, out)
			}
			if sums, err := e.Store.UsageSums(t.Context()); err != nil || sums[orgID] != 0 {
				t.Fatalf("the vanished org's datasets: %v %v", sums, err)
			}
		})
	}
}
