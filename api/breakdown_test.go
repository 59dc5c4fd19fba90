package api_test

import (
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestBreakdownByKey: the usage breakdown splits by the API key that created
// each dataset, with the key's id and name (a revoked key's datasets still
// count under it), and each of the three splits sums to organization_usage.
func TestBreakdownByKey(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	ctx := t.Context()
	admin := client.New(e.URL, e.AdminKey)
	org, _, err := admin.CreateOrg(ctx, "team", nil)
	mustOK(t, err)
	alice, _, err := admin.CreateKey(ctx, org.ID, "writer", "alice")
	mustOK(t, err)
	bob, _, err := admin.CreateKey(ctx, org.ID, "writer", "bob")
	mustOK(t, err)
	a, b := client.New(e.URL, alice.Secret), client.New(e.URL, bob.Secret)
	for i, up := range []struct {
		c    *client.Client
		body string
	}{{a, "{\"text\":\"one\"}\n"}, {a, "{\"text\":\"two two\"}\n"}, {b, "{\"text\":\"three three three\"}\n"}} {
		_, _, err := up.c.Upload(ctx, client.UploadRequest{Name: "d", Type: "embed-input", Data: file("d.jsonl", up.body)})
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	mustOK(t, admin.RevokeKey(ctx, bob.ID))
	reader := client.New(e.URL, e.Key(t, org.ID, silo.RoleReader))
	bd, _, err := reader.Breakdown(ctx)
	mustOK(t, err)
	u, _, err := reader.Usage(ctx)
	mustOK(t, err)
	want := []client.Share{ // largest first
		{Key: alice.ID, Name: "alice", Datasets: 2, Bytes: int64(len("{\"text\":\"one\"}\n{\"text\":\"two two\"}\n"))},
		{Key: bob.ID, Name: "bob", Datasets: 1, Bytes: int64(len("{\"text\":\"three three three\"}\n"))},
	}
	if len(bd.ByKey) != 2 || bd.ByKey[0] != want[0] || bd.ByKey[1] != want[1] {
		t.Fatalf("by_key = %+v, want %+v", bd.ByKey, want)
	}
	for name, split := range map[string][]client.Share{"by_type": bd.ByType, "by_client": bd.ByClient, "by_key": bd.ByKey} {
		var sum int64
		for _, s := range split {
			sum += s.Bytes
		}
		if sum != u.OrganizationUsage {
			t.Errorf("%s sums to %d, organization_usage is %d", name, sum, u.OrganizationUsage)
		}
	}
}
