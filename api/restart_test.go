package api_test

import (
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestRestart: stop the server and start it on the same data directory:
// datasets, keys and usage are all there.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	e := silotest.Start(t, silotest.Options{Dir: dir})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	var ids []string
	for i := 0; i < 3; i++ {
		body, ct := multipartBody(t, [2]string{"data", embedJSONL})
		st, out := create(t, e, key, "name=keep&type=embed-input", body, ct)
		if st != 200 {
			t.Fatal(st, out)
		}
		ids = append(ids, out["id"].(string))
	}
	r := newRequest(t, "DELETE", e.URL+"/v1/datasets/"+ids[0], nil)
	r.Header.Set("Authorization", "Bearer "+key)
	if st, out := do(t, r); st != 200 {
		t.Fatal(st, out)
	}
	e.Close()

	e2 := silotest.Start(t, silotest.Options{Dir: dir})
	r = newRequest(t, "GET", e2.URL+"/v1/datasets/usage", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	st, out := do(t, r)
	if want := float64(2 * len(embedJSONL)); st != 200 || out["organization_usage"] != want {
		t.Fatalf("usage after restart: %d %v, want %v", st, out, want)
	}
	r = newRequest(t, "GET", e2.URL+"/v1/datasets", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	st, out = do(t, r)
	list := out["datasets"].([]any)
	if st != 200 || len(list) != 2 || list[0].(map[string]any)["id"] != ids[2] || list[1].(map[string]any)["id"] != ids[1] {
		t.Fatalf("list after restart: %d %v", st, out)
	}
	d := e2.WaitValidated(t, orgID, ids[1])
	if d.Status != silo.StatusValidated {
		t.Fatalf("a dataset validated after restart is %s: %s", d.Status, d.Report.Error)
	}
}
