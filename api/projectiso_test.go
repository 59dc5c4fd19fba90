package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// tus sends one tus request with key and returns the status, the headers
// and the body.
func tus(t *testing.T, method, u, key string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := newRequest(t, method, u, r)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header, string(mustReadAll(t, resp.Body))
}

// openUpload opens a resumable upload of n bytes with key and returns its
// URL, or fails with the answer.
func openUpload(t *testing.T, e *silotest.Env, key string, n int) string {
	t.Helper()
	st, h, body := tus(t, "POST", e.URL+"/v1/uploads", key, map[string]string{"Upload-Length": strconv.Itoa(n)}, "")
	if st != 201 {
		t.Fatalf("open an upload of %d bytes: %d %s", n, st, body)
	}
	return h.Get("Location")
}

// TestProjectIsolation: a key of one project of an org finds nothing of
// another project's: its datasets are 404 on every route (so it never
// gets their signed URLs), its uploads are 404 to HEAD, PATCH and DELETE,
// absent from GET /v1/uploads and refused as a dataset's file; the org's
// key sees both. A project key's resumable upload reserves at both levels
// at its creation and is refused there, naming the level, when either
// would go over its quota (CONTRACT "Projects").
func TestProjectIsolation(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, orgKey := e.Org(t, "iso", 20_000, silo.RoleWriter)
	admin := e.AdminKey
	project := func(name, quota string) (string, string) {
		p := mustCall(t, e, 201, admin, "POST", "/v1/admin/projects", fmt.Sprintf(`{"org_id":%q,"name":%q,"quota_bytes":%s}`, orgID, name, quota))
		k := mustCall(t, e, 201, admin, "POST", "/v1/admin/keys", fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":"writer"}`, orgID, p["id"]))
		return p["id"].(string), k["key"].(string)
	}
	aID, aKey := project("alpha", "5000")
	bID, bKey := project("beta", "null")

	st, out := createSized(t, e, bKey, "b-data", 2000)
	if st != 200 {
		t.Fatalf("create in beta: %d %v", st, out)
	}
	bData := out["id"].(string)
	st, out = createSized(t, e, aKey, "a-data", 1000)
	if st != 200 {
		t.Fatalf("create in alpha: %d %v", st, out)
	}
	aData := out["id"].(string)
	e.WaitValidated(t, orgID, bData)
	e.WaitValidated(t, orgID, aData)

	// Datasets: beta's is not found by alpha's key, on every route.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/datasets/" + bData}, {"DELETE", "/v1/datasets/" + bData},
	} {
		if st, out := call(t, e, aKey, r.method, r.path, ""); st != 404 {
			t.Errorf("%s %s with alpha's key: %d %v", r.method, r.path, st, out)
		}
	}
	if ds := mustCall(t, e, 200, aKey, "GET", "/v1/datasets?limit=100", "")["datasets"].([]any); len(ds) != 1 || ds[0].(map[string]any)["id"] != aData {
		t.Errorf("alpha's key lists %v", ds)
	}
	// The org key's signed URL of beta's dataset is a capability of the
	// org key's: re-signed for alpha's key it is refused.
	d := mustCall(t, e, 200, orgKey, "GET", "/v1/datasets/"+bData, "")["dataset"].(map[string]any)
	if d["project_id"] != bID {
		t.Errorf("beta's dataset has project_id %v", d["project_id"])
	}
	signed, err := url.Parse(d["dataset_parts"].([]any)[0].(map[string]any)["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	me := mustCall(t, e, 200, aKey, "GET", "/v1/me", "")["key"].(map[string]any)
	q := signed.Query()
	if q.Get("key") == "" || me["id"] == nil {
		t.Fatalf("a signed URL without its key (%s) or a key without its id (%v)", signed, me)
	}
	q.Set("key", me["id"].(string))
	forged := *signed
	forged.RawQuery = q.Encode()
	if st, _, _ := silotest.Get(t, forged.String(), aKey); st == 200 {
		t.Errorf("beta's signed URL re-bound to alpha's key was served")
	}
	if st, _, _ := silotest.Get(t, signed.String(), ""); st != 200 {
		t.Errorf("the org key's signed URL of beta's dataset: %d", st)
	}

	// Uploads: beta's are not found by alpha's key.
	data := rows(1500)
	bUp := openUpload(t, e, bKey, len(data))
	aUp := openUpload(t, e, aKey, 100)
	patch := map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
	for _, r := range []struct {
		method string
		hdr    map[string]string
		body   string
	}{{"HEAD", nil, ""}, {"PATCH", patch, data}, {"DELETE", nil, ""}} {
		if st, _, body := tus(t, r.method, bUp, aKey, r.hdr, r.body); st != 404 {
			t.Errorf("%s of beta's upload with alpha's key: %d %s", r.method, st, body)
		}
	}
	listed := func(key string) map[string]bool {
		ids := map[string]bool{}
		for _, u := range mustCall(t, e, 200, key, "GET", "/v1/uploads", "")["uploads"].([]any) {
			ids[u.(map[string]any)["url"].(string)] = true
		}
		return ids
	}
	if l := listed(aKey); len(l) != 1 || !l[aUp] {
		t.Errorf("alpha's key lists uploads %v, want only %s", l, aUp)
	}
	if l := listed(bKey); len(l) != 1 || !l[bUp] {
		t.Errorf("beta's key lists uploads %v, want only %s", l, bUp)
	}
	if l := listed(orgKey); len(l) != 2 || !l[aUp] || !l[bUp] {
		t.Errorf("the org key lists uploads %v, want both", l)
	}
	// Beta's upload, complete, is refused as a dataset's file to alpha's
	// key, and is beta's to make a dataset of.
	if st, _, body := tus(t, "PATCH", bUp, bKey, patch, data); st != 204 {
		t.Fatalf("PATCH of beta's upload: %d %s", st, body)
	}
	bUpID := bUp[strings.LastIndex(bUp, "/")+1:]
	from := "/v1/datasets?type=embed-input&name=taken&upload_id=" + bUpID
	if st, out := call(t, e, aKey, "POST", from, ""); st != 400 && st != 404 {
		t.Errorf("a dataset of beta's upload with alpha's key: %d %v", st, out)
	}
	if st, out := call(t, e, aKey, "POST", "/v1/datasets?type=embed-input&name=eval&upload_id="+aUp[strings.LastIndex(aUp, "/")+1:]+"&eval_upload_id="+bUpID, ""); st != 400 && st != 404 {
		t.Errorf("beta's upload as the eval file of alpha's key's dataset: %d %v", st, out)
	}
	mine := mustCall(t, e, 200, bKey, "POST", from, "")
	if got := mustCall(t, e, 200, bKey, "GET", "/v1/datasets/"+mine["id"].(string), "")["dataset"].(map[string]any); got["project_id"] != bID {
		t.Errorf("the dataset of beta's upload: %v", got)
	}

	// Reservations at both levels: alpha's open upload of 100 bytes is
	// held by alpha and the org; over alpha's quota (5000, 1000 used) a
	// creation is refused naming alpha; beta has no quota of its own, so
	// over the org's (20,000, 4,500 used) it is refused naming the org.
	ua := mustCall(t, e, 200, aKey, "GET", "/v1/datasets/usage", "")
	if ua["project_reserved_bytes"] != 100.0 || ua["reserved_bytes"] != 100.0 || ua["project_id"] != aID {
		t.Errorf("alpha's usage with its upload open: %v", ua)
	}
	for _, c := range []struct {
		key  string
		n    int
		want string
	}{{aKey, 3901, `the project "alpha" uses 1,000 bytes`}, {bKey, 15_401, "the organization uses 4,500 bytes"}} {
		st, _, body := tus(t, "POST", e.URL+"/v1/uploads", c.key, map[string]string{"Upload-Length": strconv.Itoa(c.n)}, "")
		var refusal struct{ Message string }
		json.Unmarshal([]byte(body), &refusal)
		if st != 400 || !strings.HasPrefix(refusal.Message, "You have exceeded capacity: "+c.want) {
			t.Errorf("an upload of %d bytes: %d %s, want 400 saying %q", c.n, st, body, c.want)
		}
	}
	fits := openUpload(t, e, aKey, 3900)
	if ua := mustCall(t, e, 200, aKey, "GET", "/v1/datasets/usage", ""); ua["project_reserved_bytes"] != 4000.0 {
		t.Errorf("alpha's usage with two uploads open: %v", ua)
	}
	for _, u := range []string{aUp, fits} {
		if st, _, body := tus(t, "DELETE", u, aKey, nil, ""); st != 204 {
			t.Fatalf("DELETE of alpha's upload: %d %s", st, body)
		}
	}
	if ua := mustCall(t, e, 200, aKey, "GET", "/v1/datasets/usage", ""); ua["project_reserved_bytes"] != 0.0 || ua["reserved_bytes"] != 0.0 {
		t.Errorf("alpha's usage once its uploads are gone: %v", ua)
	}
}
