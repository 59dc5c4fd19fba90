package api_test

import (
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestMeAndOrgHistory: GET /v1/me names the key's org and role; an admin
// key reads any org's usage history with org_id, other keys only their own.
func TestMeAndOrgHistory(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	ctx := t.Context()
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	otherID, _ := e.Org(t, "other", 0, silo.RoleWriter)
	w := client.New(e.URL, key)
	me, _, err := w.Me(ctx)
	mustOK(t, err)
	if me.Org.ID != orgID || me.Org.Name != "acme" || me.Key.Role != "writer" || me.Key.Secret != "" {
		t.Fatalf("GET /v1/me = %+v", me)
	}
	_, _, err = w.Upload(ctx, client.UploadRequest{Name: "d", Type: "embed-input", Data: file("d.jsonl", "{\"text\":\"x\"}\n")})
	mustOK(t, err)

	status, body := scrapeWith(t, e.URL+"/v1/datasets/usage/history?org_id="+orgID, e.AdminKey)
	if status != 200 || !strings.Contains(body, `"used_bytes":13`) {
		t.Errorf("admin reading acme's history: %d %s", status, body)
	}
	if status, body := scrapeWith(t, e.URL+"/v1/datasets/usage/history?org_id="+orgID, key); status != 200 || !strings.Contains(body, `"used_bytes":13`) {
		t.Errorf("acme's writer reading its own history by id: %d %s", status, body)
	}
	if status, _ := scrapeWith(t, e.URL+"/v1/datasets/usage/history?org_id="+otherID, key); status != 403 {
		t.Errorf("a writer reading another org's history: %d, want 403", status)
	}
	if status, _ := scrapeWith(t, e.URL+"/v1/datasets/usage/history?org_id=org_nope", e.AdminKey); status != 404 {
		t.Errorf("admin reading a missing org's history: %d, want 404", status)
	}
}
