package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestRoleBeforeInput: on every route, a key whose role is too low gets
// 403 whatever is wrong with its body or parameters; the same request with
// a key of the role needed gets the 400 or 422 its input deserves, which
// shows the input is bad (the contract's order: 401/498, then 403, then
// the rest). Before, the handlers parsed first: a reader sending an admin
// route a malformed body got 400.
func TestRoleBeforeInput(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, reader := e.Org(t, "roles", 0, silo.RoleReader)
	other, _ := e.Org(t, "other", 0, silo.RoleReader)
	keys := map[silo.Role]string{
		silo.RoleReader:  reader,
		silo.RoleWriter:  e.Key(t, orgID, silo.RoleWriter),
		silo.RoleMetrics: e.Key(t, orgID, silo.RoleMetrics),
		silo.RoleAdmin:   e.AdminKey,
	}
	tus := map[string]string{"Tus-Resumable": "1.0.0"}
	for _, c := range []struct {
		method, path, body string
		low, enough        silo.Role
		want               int // for the enough role
		header             map[string]string
	}{
		{"POST", "/v1/admin/orgs", "not json", silo.RoleReader, silo.RoleAdmin, 400, nil},
		{"POST", "/v1/admin/orgs", `{"name":""}`, silo.RoleWriter, silo.RoleAdmin, 422, nil},
		{"PATCH", "/v1/admin/orgs/" + other, "{", silo.RoleReader, silo.RoleAdmin, 400, nil},
		{"PATCH", "/v1/admin/orgs/" + other, `{}`, silo.RoleWriter, silo.RoleAdmin, 422, nil},
		{"DELETE", "/v1/admin/orgs/" + other + "?purge=maybe", "", silo.RoleWriter, silo.RoleAdmin, 400, nil},
		{"POST", "/v1/admin/keys", `{"org_id":1}`, silo.RoleReader, silo.RoleAdmin, 400, nil},
		{"POST", "/v1/admin/keys", `{"org_id":"` + other + `","role":"boss"}`, silo.RoleWriter, silo.RoleAdmin, 422, nil},
		{"POST", "/v1/datasets?type=embed-input", "", silo.RoleReader, silo.RoleWriter, 400, nil}, // no name
		{"POST", "/v1/datasets?name=x&type=embed-input&keep_original_file=perhaps", "", silo.RoleMetrics, silo.RoleWriter, 400, nil},
		{"GET", "/v1/datasets?limit=abc", "", silo.RoleMetrics, silo.RoleReader, 400, nil},
		{"GET", "/v1/datasets?limit=0", "", silo.RoleMetrics, silo.RoleReader, 422, nil},
		{"GET", "/v1/datasets/usage/history?limit=abc", "", silo.RoleMetrics, silo.RoleReader, 400, nil},
		{"GET", "/v1/datasets/usage/history?org_id=" + other + "&limit=0", "", silo.RoleReader, silo.RoleAdmin, 422, nil},
		{"POST", "/v1/uploads", "", silo.RoleReader, silo.RoleWriter, 400, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "abc"}},
		{"PATCH", "/v1/uploads/up_nope", "x", silo.RoleReader, silo.RoleWriter, 415, tus},
		{"HEAD", "/v1/uploads/up_nope", "", silo.RoleMetrics, silo.RoleReader, 404, tus},
		// Bad bytes are input too: a path id 404, a parameter 400, after the role.
		{"DELETE", "/v1/datasets/bad%00id", "", silo.RoleReader, silo.RoleWriter, 404, nil},
		{"GET", "/v1/admin/keys?org_id=%ff", "", silo.RoleWriter, silo.RoleAdmin, 400, nil},
	} {
		t.Run(c.method+" "+c.path+" "+c.body, func(t *testing.T) {
			send := func(role silo.Role) (int, string) {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				req := newRequest(t, c.method, e.URL+c.path, body)
				req.Header.Set("Authorization", "Bearer "+keys[role])
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				return resp.StatusCode, string(mustReadAll(t, resp.Body))
			}
			if st, out := send(c.enough); st != c.want {
				t.Fatalf("with a %s key: %d %s, want %d (the input must be bad for the test to mean anything)", c.enough, st, out, c.want)
			}
			if st, out := send(c.low); st != 403 {
				t.Fatalf("with a %s key: %d %s, want 403 before the input is looked at", c.low, st, out)
			}
		})
	}
}
