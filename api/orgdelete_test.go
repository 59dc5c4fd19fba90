package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
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
	for _, k := range aBlobs {
		if _, err := e.Blobs.Open(ctx, k, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
			t.Errorf("blob %s of the deleted org: %v, want not found", k, err)
		}
	}
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
