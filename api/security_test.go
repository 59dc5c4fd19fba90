package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// route is one API route and how to call it on a fresh target.
type route struct {
	method, path string // path with {id} for the target
	body         string
	target       func(t *testing.T, f *fixture, orgID, key string) string // makes what {id} names
}

// fixture is a server with an org per role, each key its own org's
// writer too where a dataset must exist first.
type fixture struct {
	e *silotest.Env
}

func (f *fixture) dataset(t *testing.T, orgID, _ string) string {
	t.Helper()
	w := f.e.Key(t, orgID, silo.RoleWriter)
	body, ct := multipartBody(t, [2]string{"data", embedJSONL})
	st, out := create(t, f.e, w, "name=probe&type=embed-input", body, ct)
	if st != 200 {
		t.Fatalf("fixture dataset: %d %v", st, out)
	}
	return out["id"].(string)
}

func (f *fixture) org(t *testing.T) string {
	t.Helper()
	id, _ := f.e.Org(t, silo.NewID("o"), 0, silo.RoleReader)
	return id
}

func (f *fixture) keyID(t *testing.T, orgID string) string {
	t.Helper()
	k, err := f.e.Service.CreateKey(context.Background(), f.e.Admin(t), orgID, "", silo.RoleReader, "victim")
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

var routes = []route{
	{"GET", "/v1/datasets/usage", "", nil},
	{"GET", "/v1/datasets/usage/history", "", nil},
	{"GET", "/v1/datasets", "", nil},
	{"POST", "/v1/datasets?name=x&type=embed-input", "", nil},
	{"GET", "/v1/datasets/{id}", "", func(t *testing.T, f *fixture, o, k string) string { return f.dataset(t, o, k) }},
	{"DELETE", "/v1/datasets/{id}", "", func(t *testing.T, f *fixture, o, k string) string { return f.dataset(t, o, k) }},
	{"POST", "/v1/admin/orgs", `{"name":"{rand}"}`, nil},
	{"GET", "/v1/admin/orgs", "", nil},
	{"PATCH", "/v1/admin/orgs/{id}", `{"quota_bytes":5}`, func(t *testing.T, f *fixture, o, k string) string { return f.org(t) }},
	{"POST", "/v1/admin/keys", `{"org_id":"{org}","role":"reader"}`, nil},
	{"GET", "/v1/admin/keys", "", nil},
	{"DELETE", "/v1/admin/keys/{id}", "", func(t *testing.T, f *fixture, o, k string) string { return f.keyID(t, o) }},
	{"GET", "/v1/embed-jobs", "", nil},
}

// minRole is the role each route needs; "" is any authenticated key.
var minRole = map[string]silo.Role{
	"GET /v1/datasets/usage": silo.RoleReader, "GET /v1/datasets/usage/history": silo.RoleReader,
	"GET /v1/datasets": silo.RoleReader, "POST /v1/datasets?name=x&type=embed-input": silo.RoleWriter,
	"GET /v1/datasets/{id}": silo.RoleReader, "DELETE /v1/datasets/{id}": silo.RoleWriter,
	"POST /v1/admin/orgs": silo.RoleAdmin, "GET /v1/admin/orgs": silo.RoleAdmin, "PATCH /v1/admin/orgs/{id}": silo.RoleAdmin,
	"POST /v1/admin/keys": silo.RoleAdmin, "GET /v1/admin/keys": silo.RoleAdmin, "DELETE /v1/admin/keys/{id}": silo.RoleAdmin,
}

func (f *fixture) call(t *testing.T, rt route, auth, orgID, id string) (int, map[string]any) {
	t.Helper()
	path := strings.ReplaceAll(rt.path, "{id}", id)
	body := strings.NewReplacer("{rand}", silo.NewID("o"), "{org}", orgID).Replace(rt.body)
	var r io.Reader = strings.NewReader(body)
	ctype := "application/json"
	if rt.method == "POST" && strings.HasPrefix(rt.path, "/v1/datasets") {
		r, ctype = multipartBody(t, [2]string{"data", embedJSONL})
	}
	req := newRequest(t, rt.method, f.e.URL+path, r)
	req.Header.Set("Content-Type", ctype)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return do(t, req)
}

func successStatus(rt route) int {
	if rt.method == "POST" && strings.HasPrefix(rt.path, "/v1/admin") {
		return 201
	}
	if rt.path == "/v1/embed-jobs" {
		return 501
	}
	return 200
}

// TestRouteRoleMatrix calls every route with every kind of caller: no key,
// a malformed header, a key that never existed (401), a revoked key (498),
// and a key of each role: below the route's role 403, at or above it the
// route's success. Authentication comes before routing: no caller learns
// anything about ids without a valid key.
func TestRouteRoleMatrix(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	f := &fixture{e: e}
	orgID, _ := e.Org(t, "matrix", 0, silo.RoleReader)
	keys := map[silo.Role]string{}
	for _, r := range []silo.Role{silo.RoleReader, silo.RoleWriter, silo.RoleAdmin} {
		keys[r] = e.Key(t, orgID, r)
	}
	revoked, err := e.Service.CreateKey(context.Background(), e.Admin(t), orgID, "", silo.RoleAdmin, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.RevokeKey(context.Background(), e.Admin(t), revoked.ID); err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name string
		auth string
		role silo.Role // "" for the unauthenticated ones
		want int       // for the unauthenticated ones
	}{
		{"no header", "", "", 401},
		{"basic scheme", "Basic " + keys[silo.RoleAdmin], "", 401},
		{"never existed", "Bearer silo_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", 401},
		{"revoked admin", "Bearer " + revoked.Secret, "", 498},
		{"reader", "Bearer " + keys[silo.RoleReader], silo.RoleReader, 0},
		{"writer", "bearer " + keys[silo.RoleWriter], silo.RoleWriter, 0},
		{"admin", "BEARER " + keys[silo.RoleAdmin], silo.RoleAdmin, 0},
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				id := "nonexistent-abcdef"
				if rt.target != nil {
					id = rt.target(t, f, orgID, "")
				}
				want := c.want
				if c.role != "" {
					want = successStatus(rt)
					if need := minRole[rt.method+" "+rt.path]; need != "" && !c.role.Includes(need) {
						want = 403
					}
				}
				st, out := f.call(t, rt, c.auth, orgID, id)
				if st != want {
					t.Fatalf("%d %v, want %d", st, out, want)
				}
				if st >= 400 && out["message"] == nil {
					t.Fatalf("%d without a message: %v", st, out)
				}
			})
		}
	}
}

// TestCrossTenantProbes: a key of another organisation, whatever its role
// short of admin, gets 404 for every dataset route on this organisation's
// dataset, exactly as for an id that never existed, and changes nothing;
// lists and usage show only its own. Signed URLs cannot be re-pointed: a
// URL of its own dataset with this org's ids swapped in is 403.
func TestCrossTenantProbes(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	f := &fixture{e: e}
	victimOrg, victimKey := e.Org(t, "victim", 0, silo.RoleReader)
	victim := f.dataset(t, victimOrg, "")
	attackerOrg, _ := e.Org(t, "attacker", 0, silo.RoleReader)
	mine := f.dataset(t, attackerOrg, "")
	e.WaitJobs(t)
	before := e.Usage(t, victimOrg)
	for _, role := range []silo.Role{silo.RoleReader, silo.RoleWriter} {
		k := "Bearer " + e.Key(t, attackerOrg, role)
		for _, id := range []string{victim, "never-existed-abcdef", "../" + victim, victimOrg + "%2F" + victim} {
			for _, m := range []string{"GET", "DELETE"} {
				want := 404
				if m == "DELETE" && role == silo.RoleReader && !strings.Contains(id, "/") {
					want = 403 // the role is checked before the resource
				} // an id with a slash is no route at all: 404 for everyone
				st, out := f.call(t, route{method: m, path: "/v1/datasets/{id}"}, k, attackerOrg, id)
				if st != want {
					t.Errorf("%s %s %s: %d %v, want %d", role, m, id, st, out, want)
				}
			}
		}
		_, out := f.call(t, route{method: "GET", path: "/v1/datasets"}, k, attackerOrg, "")
		for _, d := range out["datasets"].([]any) {
			if d.(map[string]any)["id"] != mine {
				t.Errorf("%s lists %v", role, d)
			}
		}
	}
	if after := e.Usage(t, victimOrg); after.UsedBytes != before.UsedBytes {
		t.Fatalf("victim usage changed: %d -> %d", before.UsedBytes, after.UsedBytes)
	}
	// Signed URLs: take the attacker's own valid URL and point it at the
	// victim's dataset; the signature covers org, dataset, part and kind.
	own := originalURL(t, e, "Bearer "+e.Key(t, attackerOrg, silo.RoleReader), mine)
	theirs := originalURL(t, e, "Bearer "+victimKey, victim)
	for name, u := range map[string]string{
		"victim org and id": strings.Replace(strings.Replace(own, attackerOrg, victimOrg, 1), mine, victim, 1),
		"victim id only":    strings.Replace(own, mine, victim, 1),
		"other kind":        strings.Replace(own, "/original?", "/avro?", 1),
		"longer expiry":     regexp.MustCompile(`expires=\d+`).ReplaceAllString(own, "expires=99999999999"),
		"no signature":      regexp.MustCompile(`&signature=[0-9a-f]+`).ReplaceAllString(own, ""),
		// The key whose in-flight cap the download counts against.
		"another key": regexp.MustCompile(`key=[^&]+`).ReplaceAllString(own, regexp.MustCompile(`key=[^&]+`).FindString(theirs)),
		"no key":      regexp.MustCompile(`&key=[^&]+`).ReplaceAllString(own, ""),
		"signature of another URL": regexp.MustCompile(`signature=[0-9a-f]+`).ReplaceAllString(own,
			regexp.MustCompile(`signature=[0-9a-f]+`).FindString(theirs)),
	} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b := mustReadAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !json.Valid(b) {
			t.Errorf("%s: %d %s, want 403", name, resp.StatusCode, b)
		}
	}
}

func originalURL(t *testing.T, e *silotest.Env, auth, id string) string {
	t.Helper()
	req := newRequest(t, "GET", e.URL+"/v1/datasets/"+id, nil)
	req.Header.Set("Authorization", auth)
	st, out := do(t, req)
	if st != 200 {
		t.Fatalf("get %s: %d %v", id, st, out)
	}
	return out["dataset"].(map[string]any)["dataset_parts"].([]any)[0].(map[string]any)["original_url"].(string)
}

// TestSecretsNeverLeak drives every code path that handles a key (create,
// use, wrong use, revoke, use after revoke, an internal error) and checks
// that no secret appears in the server's logs (its own logger and the
// process default), in any answer but the one that creates the key, or in
// the database files: keys are stored as SHA-256 hashes only. Secrets are
// random: 192 bits, all distinct.
func TestSecretsNeverLeak(t *testing.T) {
	logs := &syncBuf{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	e := silotest.Start(t, silotest.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	var secrets []string
	var answers bytes.Buffer
	admin := "Bearer " + e.AdminKey
	st, org := f2(t, e, "POST", "/v1/admin/orgs", admin, `{"name":"leak"}`, &answers)
	if st != 201 {
		t.Fatal(st, org)
	}
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		var out map[string]any
		raw := callRaw(t, e, "POST", "/v1/admin/keys", admin, fmt.Sprintf(`{"org_id":%q,"role":"writer"}`, org["id"]))
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("create key: %v: %q", err, raw)
		}
		s := out["key"].(string)
		if seen[s] || len(strings.TrimPrefix(s, "silo_")) < 32 { // base32: 5 bits a character
			t.Fatalf("weak or repeated secret %q", s)
		}
		seen[s] = true
		secrets = append(secrets, s)
	}
	secrets = append(secrets, e.AdminKey)
	k := "Bearer " + secrets[0]
	f2(t, e, "GET", "/v1/datasets/usage", k, "", &answers)
	f2(t, e, "GET", "/v1/datasets/nope", k, "", &answers)
	f2(t, e, "GET", "/v1/admin/keys", admin, "", &answers)
	f2(t, e, "GET", "/v1/admin/orgs", "Basic "+secrets[1], "", &answers)
	f2(t, e, "GET", "/v1/datasets", "Bearer "+secrets[1]+"x", "", &answers)
	var keys map[string]any
	if err := json.Unmarshal(callRaw(t, e, "GET", "/v1/admin/keys", admin, ""), &keys); err != nil {
		t.Fatal(err)
	}
	for _, kk := range keys["keys"].([]any) {
		f2(t, e, "DELETE", "/v1/admin/keys/"+kk.(map[string]any)["id"].(string), admin, "", &answers)
	}
	f2(t, e, "GET", "/v1/datasets/usage", k, "", &answers) // 498
	e.Close()
	files, err := filepath.Glob(filepath.Join(e.Dir, "silo.db*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("the database files: %v %v", files, err)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("secret %s… in the logs", s[:8])
		}
		if strings.Contains(answers.String(), s) {
			t.Errorf("secret %s… in an answer other than its creation", s[:8])
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %s… stored in %s", s[:8], filepath.Base(f))
			}
		}
	}
	if !strings.Contains(logs.String(), "status=498") && !strings.Contains(logs.String(), `"status":498`) {
		t.Fatalf("the revoked key's request is not in the logs; is the capture working?\n%s", logs.String())
	}
}

func callRaw(t *testing.T, e *silotest.Env, method, path, auth, body string) []byte {
	t.Helper()
	req := newRequest(t, method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := mustReadAll(t, resp.Body)
	return b
}

// f2 makes a request and keeps its answer, headers included, in all.
func f2(t *testing.T, e *silotest.Env, method, path, auth, body string, all *bytes.Buffer) (int, map[string]any) {
	t.Helper()
	req := newRequest(t, method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := mustReadAll(t, resp.Body)
	if err := resp.Header.Write(all); err != nil {
		t.Fatal(err)
	}
	all.Write(b)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}
