package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// call sends a JSON (or empty) request with a key and returns the status
// and the decoded body.
func call(t *testing.T, e *silotest.Env, key, method, path, body string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := newRequest(t, method, e.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

// mustCall is call that wants a status.
func mustCall(t *testing.T, e *silotest.Env, want int, key, method, path, body string) map[string]any {
	t.Helper()
	st, out := call(t, e, key, method, path, body)
	if st != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, st, out, want)
	}
	return out
}

// createSized creates a dataset of size bytes with key and returns its id,
// or the status and message of a refusal.
func createSized(t *testing.T, e *silotest.Env, key, name string, size int) (int, map[string]any) {
	t.Helper()
	body, ctype := multipartBody(t, [2]string{"data", rows(size)})
	return create(t, e, key, "name="+name+"&type=embed-input", body, ctype)
}

// TestProjects: the admin API of projects, keys bound to them, both levels
// of quota, isolation inside the org, usage and breakdown per project, and
// deleting a project (CONTRACT "Projects").
func TestProjects(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, orgKey := e.Org(t, "acme", 10_000, silo.RoleWriter)
	admin := e.AdminKey

	a := mustCall(t, e, 201, admin, "POST", "/v1/admin/projects", fmt.Sprintf(`{"org_id":%q,"name":"alpha","quota_bytes":3000}`, orgID))
	b := mustCall(t, e, 201, admin, "POST", "/v1/admin/projects", fmt.Sprintf(`{"org_id":%q,"name":"beta"}`, orgID))
	aID, bID := a["id"].(string), b["id"].(string)
	if a["quota_bytes"] != 3000.0 || b["quota_bytes"] != nil || a["usage_bytes"] != 0.0 || a["org_id"] != orgID {
		t.Fatalf("created %v and %v", a, b)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{fmt.Sprintf(`{"org_id":%q,"name":"alpha"}`, orgID), 409},
		{`{"org_id":"org_nope","name":"x"}`, 422},
		{fmt.Sprintf(`{"org_id":%q,"name":""}`, orgID), 422},
		{fmt.Sprintf(`{"org_id":%q,"name":"x","quota_bytes":-1}`, orgID), 422},
		{`{"org_id":`, 400},
	} {
		mustCall(t, e, tc.want, admin, "POST", "/v1/admin/projects", tc.body)
	}
	mustCall(t, e, 403, orgKey, "POST", "/v1/admin/projects", fmt.Sprintf(`{"org_id":%q,"name":"mine"}`, orgID))

	key := func(project, role string) string {
		out := mustCall(t, e, 201, admin, "POST", "/v1/admin/keys", fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":%q}`, orgID, project, role))
		if out["project_id"] != project {
			t.Fatalf("key %v", out)
		}
		return out["key"].(string)
	}
	aKey, bKey, aReader := key(aID, "writer"), key(bID, "writer"), key(aID, "reader")
	otherOrg, _ := e.Org(t, "other", 0, silo.RoleReader)
	mustCall(t, e, 422, admin, "POST", "/v1/admin/keys", fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":"writer"}`, otherOrg, aID))
	mustCall(t, e, 422, admin, "POST", "/v1/admin/keys", fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":"admin"}`, orgID, aID))

	// Quota at both levels: alpha refuses past its 3000, naming itself;
	// the org refuses past its 10,000, naming itself; nothing is held.
	st, d1 := createSized(t, e, aKey, "a1", 2000)
	if st != 200 || d1["id"] == nil {
		t.Fatalf("create in alpha: %d %v", st, d1)
	}
	st, out := createSized(t, e, aKey, "a2", 2000)
	if msg, _ := out["message"].(string); st != 400 || !strings.Contains(msg, `project "alpha"`) || !strings.Contains(msg, "3,000 byte") {
		t.Fatalf("over alpha's quota: %d %v", st, out)
	}
	st, d2 := createSized(t, e, bKey, "b1", 6000)
	if st != 200 {
		t.Fatalf("create in beta: %d %v", st, d2)
	}
	st, out = createSized(t, e, bKey, "b2", 3000)
	if msg, _ := out["message"].(string); st != 400 || !strings.Contains(msg, "the organization uses") {
		t.Fatalf("over the org's quota: %d %v", st, out)
	}
	st, d3 := createSized(t, e, orgKey, "o1", 1000)
	if st != 200 {
		t.Fatalf("create with the org's key: %d %v", st, d3)
	}
	id1, id2, id3 := d1["id"].(string), d2["id"].(string), d3["id"].(string)
	for _, id := range []string{id1, id2, id3} {
		e.WaitValidated(t, orgID, id)
	}

	// Usage: the org's whole, and a project key's project.
	u := mustCall(t, e, 200, aReader, "GET", "/v1/datasets/usage", "")
	if u["organization_usage"] != 9000.0 || u["project_id"] != aID || u["project_usage"] != 2000.0 || u["project_limit_bytes"] != 3000.0 {
		t.Fatalf("alpha's usage %v", u)
	}
	u = mustCall(t, e, 200, bKey, "GET", "/v1/datasets/usage", "")
	if u["project_usage"] != 6000.0 || u["project_limit_bytes"] != nil || u["project_reserved_bytes"] != 0.0 {
		t.Fatalf("beta's usage %v", u)
	}
	if _, ok := u["project_limit_bytes"]; !ok {
		t.Fatalf("beta's usage has no project_limit_bytes (null): %v", u)
	}
	u = mustCall(t, e, 200, orgKey, "GET", "/v1/datasets/usage", "")
	if _, ok := u["project_id"]; ok || u["organization_usage"] != 9000.0 {
		t.Fatalf("the org key's usage %v", u)
	}
	ps := mustCall(t, e, 200, admin, "GET", "/v1/admin/projects?org_id="+orgID, "")["projects"].([]any)
	if len(ps) != 2 || ps[0].(map[string]any)["usage_bytes"] != 2000.0 || ps[1].(map[string]any)["usage_bytes"] != 6000.0 {
		t.Fatalf("projects %v", ps)
	}

	// Isolation: another project's dataset is 404 on every route; the
	// org key sees them all, each with its project_id.
	for _, route := range []struct{ method, path string }{
		{"GET", "/v1/datasets/" + id2}, {"DELETE", "/v1/datasets/" + id2},
	} {
		st, out := call(t, e, aKey, route.method, route.path, "")
		if st != 404 || !strings.Contains(out["message"].(string), "was not found") {
			t.Fatalf("%s %s with another project's key: %d %v", route.method, route.path, st, out)
		}
	}
	got := mustCall(t, e, 200, aKey, "GET", "/v1/datasets/"+id1, "")["dataset"].(map[string]any)
	if got["project_id"] != aID {
		t.Fatalf("dataset %v", got)
	}
	list := func(key string) map[string]any {
		ids := map[string]any{}
		for _, d := range mustCall(t, e, 200, key, "GET", "/v1/datasets", "")["datasets"].([]any) {
			ids[d.(map[string]any)["id"].(string)] = d.(map[string]any)["project_id"]
		}
		return ids
	}
	if l := list(aKey); len(l) != 1 || l[id1] != aID {
		t.Fatalf("alpha's list %v", l)
	}
	if l := list(orgKey); len(l) != 3 || l[id2] != bID || l[id3] != nil {
		t.Fatalf("the org's list %v", l)
	}
	got = mustCall(t, e, 200, orgKey, "GET", "/v1/datasets/"+id2, "")["dataset"].(map[string]any)
	url := got["dataset_parts"].([]any)[0].(map[string]any)["url"].(string)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a signed URL: %d", resp.StatusCode)
	}

	// The breakdown: by_project sums to the org's usage for an org key;
	// a project key's covers its project only.
	bd := mustCall(t, e, 200, orgKey, "GET", "/v1/datasets/usage/breakdown", "")
	byProject := map[any]float64{}
	for _, sh := range bd["by_project"].([]any) {
		byProject[sh.(map[string]any)["project_id"]] = sh.(map[string]any)["bytes"].(float64)
	}
	if byProject[aID] != 2000 || byProject[bID] != 6000 || byProject[nil] != 1000 || len(byProject) != 3 {
		t.Fatalf("by_project %v", bd["by_project"])
	}
	bd = mustCall(t, e, 200, aKey, "GET", "/v1/datasets/usage/breakdown", "")
	if sh := bd["by_project"].([]any); len(sh) != 1 || sh[0].(map[string]any)["bytes"] != 2000.0 || sh[0].(map[string]any)["name"] != "alpha" {
		t.Fatalf("alpha's breakdown %v", bd)
	}
	h := mustCall(t, e, 200, aKey, "GET", "/v1/datasets/usage/history", "")
	hist, _ := h["samples"].([]any)
	if len(hist) != 1 || hist[0].(map[string]any)["used_bytes"] != 2000.0 {
		t.Fatalf("alpha's history %v", h)
	}

	// Quota changes: a higher quota lets alpha grow; null lifts it.
	p := mustCall(t, e, 200, admin, "PATCH", "/v1/admin/projects/"+aID, `{"quota_bytes":null}`)
	if p["quota_bytes"] != nil {
		t.Fatalf("quota lifted: %v", p)
	}
	mustCall(t, e, 422, admin, "PATCH", "/v1/admin/projects/"+aID, `{}`)
	mustCall(t, e, 404, admin, "PATCH", "/v1/admin/projects/prj_nope", `{"quota_bytes":1}`)

	// Deleting: 409 while it holds datasets; purge takes them and revokes
	// its keys, and the org's usage drops by exactly their bytes.
	mustCall(t, e, 409, admin, "DELETE", "/v1/admin/projects/"+bID, "")
	mustCall(t, e, 200, admin, "DELETE", "/v1/admin/projects/"+bID+"?purge=true", "")
	if st, _ := call(t, e, bKey, "GET", "/v1/datasets", ""); st != 498 {
		t.Fatalf("a deleted project's key: %d, want 498", st)
	}
	if o := e.Usage(t, orgID); o.UsedBytes != 3000 || o.ReservedBytes != 0 {
		t.Fatalf("org after the purge: %+v", o)
	}
	mustCall(t, e, 404, orgKey, "GET", "/v1/datasets/"+id2, "")
	mustCall(t, e, 404, admin, "DELETE", "/v1/admin/projects/"+bID, "")
}
