package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestBadInput: every kind of bad request gets its status from CONTRACT.md,
// a JSON {"message"} that says what is wrong, and changes nothing.
func TestBadInput(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 1_000_000, silo.RoleWriter)
	_, otherKey := e.Org(t, "other", 0, silo.RoleWriter)
	body, ct := multipartBody(t, [2]string{"data", embedJSONL})
	st, out := create(t, e, otherKey, "name=theirs&type=embed-input", body, ct)
	if st != 200 {
		t.Fatal(st, out)
	}
	theirs := out["id"].(string)
	body, ct = multipartBody(t, [2]string{"data", embedJSONL})
	if st, out = create(t, e, key, "name=mine&type=embed-input", body, ct); st != 200 {
		t.Fatal(st, out)
	}
	mine := out["id"].(string)
	e.WaitJobs(t)
	before := e.Usage(t, orgID)

	type req struct {
		method, path, auth, ctype string
		body                      func() io.Reader
	}
	valid := func() (func() io.Reader, string) {
		b, ct := multipartBody(t, [2]string{"data", embedJSONL})
		raw := mustReadAll(t, b)
		return func() io.Reader { return strings.NewReader(string(raw)) }, ct
	}
	vb, vct := valid()
	evalOnly, evalCT := multipartBody(t, [2]string{"eval_data", embedJSONL})
	evalRaw := mustReadAll(t, evalOnly)
	unknown, unknownCT := multipartBody(t, [2]string{"data", embedJSONL}, [2]string{"extra", "x"})
	unknownRaw := mustReadAll(t, unknown)
	bearer := "Bearer " + key
	for _, tc := range []struct {
		name   string
		r      req
		status int
		msg    string
	}{
		{"no auth", req{"GET", "/v1/datasets/usage", "", "", nil}, 401, "no api key"},
		{"garbage auth", req{"GET", "/v1/datasets/usage", "Basic dXNlcjpwYXNz", "", nil}, 401, "Bearer"},
		{"empty bearer", req{"GET", "/v1/datasets/usage", "Bearer ", "", nil}, 401, "invalid api token"},
		{"unknown key", req{"GET", "/v1/datasets/usage", "Bearer silo_doesnotexist", "", nil}, 401, "invalid api token"},
		{"auth before 404", req{"GET", "/v1/nowhere", "", "", nil}, 401, "no api key"},
		{"auth before 501", req{"GET", "/v1/finetuning/finetuned-models", "", "", nil}, 401, "no api key"},
		{"not multipart", req{"POST", "/v1/datasets?name=x&type=embed-input", bearer, "application/json", func() io.Reader { return strings.NewReader(`{"a":1}`) }}, 400, "multipart/form-data"},
		{"no body", req{"POST", "/v1/datasets?name=x&type=embed-input", bearer, "", nil}, 400, "multipart/form-data"},
		{"no data part", req{"POST", "/v1/datasets?name=x&type=embed-input", bearer, evalCT, func() io.Reader { return strings.NewReader(string(evalRaw)) }}, 400, "no data part"},
		{"unknown part", req{"POST", "/v1/datasets?name=x&type=embed-input", bearer, unknownCT, func() io.Reader { return strings.NewReader(string(unknownRaw)) }}, 400, "invalid parameter for part"},
		{"truncated multipart", req{"POST", "/v1/datasets?name=x&type=embed-input", bearer, vct, func() io.Reader {
			raw := mustReadAll(t, vb())
			return strings.NewReader(string(raw[:len(raw)-10]))
		}}, 400, "malformed"},
		{"missing name", req{"POST", "/v1/datasets?type=embed-input", bearer, vct, vb}, 400, "The name parameter must be set"},
		{"empty name", req{"POST", "/v1/datasets?name=&type=embed-input", bearer, vct, vb}, 400, "The name parameter must be set"},
		{"long name", req{"POST", "/v1/datasets?name=" + strings.Repeat("n", 50) + "&type=embed-input", bearer, vct, vb}, 400, "less than 50 characters"},
		{"missing type", req{"POST", "/v1/datasets?name=x", bearer, vct, vb}, 400, "The type parameter must be set"},
		{"unknown type", req{"POST", "/v1/datasets?name=x&type=pictures", bearer, vct, vb}, 400, "The dataset type is invalid"},
		{"bad delimiter", req{"POST", "/v1/datasets?name=x&type=embed-input&csv_delimiter=ab", bearer, vct, vb}, 400, "invalid csv delimiter"},
		{"bad bool", req{"POST", "/v1/datasets?name=x&type=embed-input&keep_original_file=maybe", bearer, vct, vb}, 400, "keep_original_file"},
		{"limit=-1", req{"GET", "/v1/datasets?limit=-1", bearer, "", nil}, 422, "limit"},
		{"limit=0", req{"GET", "/v1/datasets?limit=0", bearer, "", nil}, 422, "limit"},
		{"limit too big", req{"GET", "/v1/datasets?limit=1001", bearer, "", nil}, 422, "limit"},
		{"limit=abc", req{"GET", "/v1/datasets?limit=abc", bearer, "", nil}, 400, "limit must be a number"},
		{"offset=-1", req{"GET", "/v1/datasets?offset=-1", bearer, "", nil}, 422, "offset"},
		{"bad before", req{"GET", "/v1/datasets?before=yesterday", bearer, "", nil}, 400, "RFC 3339"},
		{"bad status", req{"GET", "/v1/datasets?validationStatus=done", bearer, "", nil}, 422, "validationStatus"},
		{"unknown id", req{"GET", "/v1/datasets/nope-abcdef", bearer, "", nil}, 404, "The dataset with id 'nope-abcdef' was not found."},
		{"delete unknown id", req{"DELETE", "/v1/datasets/nope-abcdef", bearer, "", nil}, 404, "not found"},
		{"other org's id", req{"GET", "/v1/datasets/" + theirs, bearer, "", nil}, 404, "not found"},
		{"delete other org's id", req{"DELETE", "/v1/datasets/" + theirs, bearer, "", nil}, 404, "not found"},
		{"unknown route", req{"GET", "/v1/nowhere", bearer, "", nil}, 404, "no such route"},
		{"wrong method", req{"PUT", "/v1/datasets/" + mine, bearer, "", nil}, 405, "method not allowed"},
		{"unimplemented", req{"POST", "/v1/embed-jobs", bearer, "", nil}, 501, "does not implement"},
		{"admin as writer", req{"GET", "/v1/admin/orgs", bearer, "", nil}, 403, "admin"},
		{"bad admin body", req{"POST", "/v1/admin/orgs", "Bearer " + e.AdminKey, "application/json", func() io.Reader { return strings.NewReader("{") }}, 400, "JSON"},
		{"invalid admin body", req{"POST", "/v1/admin/orgs", "Bearer " + e.AdminKey, "application/json", func() io.Reader { return strings.NewReader(`{"name":""}`) }}, 422, "name"},
		{"negative quota", req{"POST", "/v1/admin/orgs", "Bearer " + e.AdminKey, "application/json", func() io.Reader { return strings.NewReader(`{"name":"n","quota_bytes":-1}`) }}, 422, "quota_bytes"},
		{"bad role", req{"POST", "/v1/admin/keys", "Bearer " + e.AdminKey, "application/json", func() io.Reader { return strings.NewReader(`{"org_id":"` + orgID + `","role":"owner"}`) }}, 422, "role"},
		{"key for no org", req{"POST", "/v1/admin/keys", "Bearer " + e.AdminKey, "application/json", func() io.Reader { return strings.NewReader(`{"org_id":"org_nope","role":"reader"}`) }}, 422, "does not exist"},
		{"revoke unknown key", req{"DELETE", "/v1/admin/keys/key_nope", "Bearer " + e.AdminKey, "", nil}, 404, "not found"},
		{"bad signature", req{"GET", "/download/" + orgID + "/" + mine + "/0/original?expires=9999999999&signature=00", "", "", nil}, 403, "invalid or has expired"},
		{"bad signature, no dataset", req{"GET", "/download/" + orgID + "/nope-abcdef/0/original?expires=9999999999&signature=00", "", "", nil}, 403, "invalid or has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.r.body != nil {
				body = tc.r.body()
			}
			r := newRequest(t, tc.r.method, e.URL+tc.r.path, body)
			if tc.r.auth != "" {
				r.Header.Set("Authorization", tc.r.auth)
			}
			if tc.r.ctype != "" {
				r.Header.Set("Content-Type", tc.r.ctype)
			}
			st, out, reqID := doID(t, r)
			msg, _ := out["message"].(string)
			if st != tc.status || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %d %q, want %d with %q", st, msg, tc.status, tc.msg)
			}
			// Every error body is Cohere's {"message", "id"}, id = X-Request-Id.
			if id, _ := out["id"].(string); id == "" || id != reqID {
				t.Fatalf("body id %q, X-Request-Id %q", out["id"], reqID)
			}
		})
	}
	e.WaitJobs(t)
	after := e.Usage(t, orgID)
	if after.UsedBytes != before.UsedBytes || after.ReservedBytes != 0 {
		t.Fatalf("usage changed: %+v → %+v", before, after)
	}
	var ids []string
	if err := e.Store.Datasets(t.Context(), silo.DatasetFilter{OrgID: orgID}, func(d *silo.Dataset) error { ids = append(ids, d.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != mine {
		t.Fatalf("datasets changed: %v", ids)
	}
	if _, err := e.Service.Dataset(t.Context(), &silo.Caller{Key: &silo.Key{OrgID: "x", Role: silo.RoleReader}}, theirs); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("cross-org service read: %v", err)
	}
}

// TestSignedURLExpiry: a signed URL stops working after its TTL, with 403.
func TestSignedURLExpiry(t *testing.T) {
	e := silotest.Start(t, silotest.Options{URLTTL: time.Second})
	orgID, key := e.Org(t, "acme", 0, silo.RoleReader)
	wkey := e.Key(t, orgID, silo.RoleWriter)
	body, ct := multipartBody(t, [2]string{"data", embedJSONL})
	st, out := create(t, e, wkey, "name=x&type=embed-input", body, ct)
	if st != 200 {
		t.Fatal(st, out)
	}
	r := newRequest(t, "GET", e.URL+"/v1/datasets/"+out["id"].(string), nil)
	r.Header.Set("Authorization", "Bearer "+key)
	_, got := do(t, r)
	u := got["dataset"].(map[string]any)["dataset_parts"].([]any)[0].(map[string]any)["original_url"].(string)
	resp, err := http.Get(u)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fresh URL: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	for _, tampered := range []string{strings.Replace(u, "/0/original", "/1/original", 1), strings.Replace(u, "expires=", "expires=1", 1)} {
		resp, err := http.Get(tampered)
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("tampered URL %s: %v %v", tampered, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	time.Sleep(2100 * time.Millisecond) // the TTL itself is what is tested
	resp, err = http.Get(u)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("expired URL: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
}
