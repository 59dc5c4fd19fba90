package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/metrics"
	"github.com/silo-datasets/silo/web"
)

// checker is an http.RoundTripper that validates every real answer against
// the OpenAPI document and records which operations were exercised.
type checker struct {
	t      *testing.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]bool
}

func (c *checker) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s (%d) is not in the OpenAPI document: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("%s %s answered %d %s that the document does not allow: %v\nbody: %.300s",
			req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), err, body)
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID] = true
	c.mu.Unlock()
	return resp, nil
}

func loadDoc(t *testing.T, url string) *openapi3.T {
	t.Helper()
	resp, err := http.Get(url + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading /openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: url}}
	return doc
}

func init() {
	for _, ct := range []string{"application/avro", "application/jsonl", "text/csv", "application/yaml", "text/html"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// TestOpenAPI exercises every route of the API, successes and errors, and
// checks each real answer against /openapi.yaml; every operation of the
// document must have been exercised.
func TestOpenAPI(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		m := metrics.New(s.Service.Store)
		s.Extra = web.Routes()
		s.Metrics = m.Handler()
		s.Extra["GET /openapi.yaml"] = api.OpenAPI()
	}})
	doc := loadDoc(t, e.URL)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	chk := &checker{t: t, router: router, seen: map[string]bool{}}
	hc := &http.Client{Transport: chk}
	ctx := t.Context()
	admin := client.New(e.URL, e.AdminKey)
	admin.HTTP = hc

	for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml", "/"} {
		get(t, hc, e.URL+p, "", 200)
	}
	get(t, hc, e.URL+"/metrics", "", 401)
	getWithKey(t, hc, e.URL+"/metrics", e.AdminKey, 200)
	org, _, err := admin.CreateOrg(ctx, "openapi", ptr(int64(1_000_000)))
	mustOK(t, err)
	_, _, err = admin.Orgs(ctx)
	mustOK(t, err)
	_, _, err = admin.SetQuota(ctx, org.ID, 2_000_000)
	mustOK(t, err)
	wk, _, err := admin.CreateKey(ctx, org.ID, "writer", "w")
	mustOK(t, err)
	rk, _, err := admin.CreateKey(ctx, org.ID, "reader", "r")
	mustOK(t, err)
	_, _, err = admin.Keys(ctx, org.ID)
	mustOK(t, err)
	_, _, err = admin.Backup(ctx) // no Backup configured: the answer of PostgreSQL + S3
	wantStatus(t, err, 501)
	_, _, err = admin.CreateOrg(ctx, "", nil) // 422
	wantStatus(t, err, 422)
	gone, _, err := admin.CreateOrg(ctx, "gone", nil)
	mustOK(t, err)
	mustOK(t, admin.DeleteOrg(ctx, gone.ID, false))
	wantStatus(t, admin.DeleteOrg(ctx, gone.ID, true), 404)

	w := client.New(e.URL, wk.Secret)
	w.HTTP = hc
	data := "{\"text\":\"a\"}\n{\"text\":\"b\"}\n"
	id, _, err := w.Upload(ctx, client.UploadRequest{Name: "doc", Type: "embed-input",
		Data: file("d.jsonl", data), Eval: ptr(file("e.csv", "text\nc\n"))})
	mustOK(t, err)
	e.WaitJobs(t)
	_, _, err = w.Upload(ctx, client.UploadRequest{Name: "big", Type: "embed-input", Data: file("b.jsonl", strings.Repeat("x", 3_000_000))})
	wantStatus(t, err, 400)
	_, _, err = w.Upload(ctx, client.UploadRequest{Name: "obj", Type: "embed-input", Data: file("", "[object Object]")})
	wantStatus(t, err, 400)
	_, _, err = w.Usage(ctx)
	mustOK(t, err)
	_, _, err = w.History(ctx, time.Time{}, 0)
	mustOK(t, err)
	_, _, err = w.Breakdown(ctx)
	mustOK(t, err)
	me, _, err := w.Me(ctx)
	mustOK(t, err)
	if me.Key.ID != wk.ID || me.Key.Role != "writer" || me.Org.Name != "openapi" {
		t.Errorf("GET /v1/me = %+v", me)
	}
	_, _, err = w.List(ctx, client.ListOptions{})
	mustOK(t, err)
	_, _, err = w.List(ctx, client.ListOptions{Status: "bogus"})
	wantStatus(t, err, 422)
	d, _, err := w.Get(ctx, id)
	mustOK(t, err)
	_, _, err = w.Get(ctx, "nope-123456")
	wantStatus(t, err, 404)
	for _, p := range d.DatasetParts {
		get(t, hc, p.OriginalURL, "", 200)
		get(t, hc, p.URL, "", 200)
		get(t, hc, p.OriginalURL, "bytes=0-3", 206)
		get(t, hc, p.OriginalURL+"0", "", 403)
	}
	exerciseTus(t, hc, w, e.URL)
	exerciseWebhooks(t, admin, w)

	exerciseProjects(t, hc, admin, e.URL, org.ID)

	r := client.New(e.URL, rk.Secret)
	r.HTTP = hc
	wantStatus(t, r.Delete(ctx, id), 403)
	mustOK(t, w.Delete(ctx, id))
	mustOK(t, admin.RevokeKey(ctx, rk.ID))
	_, _, err = r.Usage(ctx)
	wantStatus(t, err, 498)
	_, _, err = client.New(e.URL, "silo_nope").Usage(ctx)
	wantStatus(t, err, 401)
	get(t, hc, e.URL+"/v1/datasets", "", 401)

	var missing []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !chk.seen[op.OperationID] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations of the document that no request exercised: %v", missing)
	}
}

func get(t *testing.T, hc *http.Client, url, rng string, want int) {
	t.Helper()
	getWith(t, hc, url, "Range", rng, want)
}

func getWithKey(t *testing.T, hc *http.Client, url, key string, want int) {
	t.Helper()
	getWith(t, hc, url, "Authorization", "Bearer "+key, want)
}

// getWith sends a GET with one header (none if value is "") and checks
// the status.
func getWith(t *testing.T, hc *http.Client, url, header, value string, want int) {
	t.Helper()
	req := newRequest(t, http.MethodGet, url, nil)
	if value != "" {
		req.Header.Set(header, value)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
	}
}

func file(name, s string) client.File {
	return client.File{Name: name, Body: strings.NewReader(s), Size: int64(len(s))}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var ce *client.Error
	if !asClientError(err, &ce) || ce.Status != status {
		t.Fatalf("got %v, want HTTP %d", err, status)
	}
}

func asClientError(err error, target **client.Error) bool {
	ce, ok := err.(*client.Error)
	if ok {
		*target = ce
	}
	return ok
}

// exerciseTus goes through the resumable upload routes.
func exerciseTus(t *testing.T, hc *http.Client, w *client.Client, base string) {
	ctx := t.Context()
	req, _ := http.NewRequest(http.MethodOptions, base+"/v1/uploads", nil)
	resp, err := hc.Do(req)
	mustOK(t, err)
	resp.Body.Close()
	data := []byte("{\"text\":\"a\"}\n")
	up, err := w.CreateTus(ctx, int64(len(data)), map[string]string{"name": "tus", "type": "embed-input"})
	mustOK(t, err)
	_, err = w.HeadTus(ctx, up.URL)
	mustOK(t, err)
	_, err = w.PatchTus(ctx, up.URL, 5, bytes.NewReader(data), int64(len(data)), make([]byte, 32))
	wantStatus(t, err, 409)
	sum := sha256.Sum256(data)
	_, err = w.PatchTus(ctx, up.URL, 0, bytes.NewReader(data), int64(len(data)), make([]byte, 32))
	wantStatus(t, err, 460)
	done, err := w.PatchTus(ctx, up.URL, 0, bytes.NewReader(data), int64(len(data)), sum[:])
	mustOK(t, err)
	if done.DatasetID == "" {
		t.Errorf("the last PATCH made no dataset")
	}
	_, err = w.HeadTus(ctx, base+"/v1/uploads/up_nope")
	wantStatus(t, err, 404)
	plain, err := w.CreateTus(ctx, int64(len(data)), nil)
	mustOK(t, err)
	_, err = w.PatchTus(ctx, plain.URL, 0, bytes.NewReader(data), int64(len(data)), sum[:])
	mustOK(t, err)
	_, _, err = w.CreateFromUploads(ctx, client.UploadRequest{Name: "from upload", Type: "embed-input"}, plain.URL, "")
	mustOK(t, err)
	open, err := w.CreateTus(ctx, 10, nil)
	mustOK(t, err)
	_, err = w.CreateTus(ctx, 1<<40, nil)
	wantStatus(t, err, 413)
	getWithKey(t, hc, base+"/v1/uploads", w.Key, 200)
	req, _ = http.NewRequest(http.MethodDelete, open.URL, nil)
	req.Header.Set("Authorization", "Bearer "+w.Key)
	resp, err = hc.Do(req)
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("DELETE of an upload: %d", resp.StatusCode)
	}
}

// exerciseProjects goes through the project routes, and a project key's
// usage, breakdown and datasets.
func exerciseProjects(t *testing.T, hc *http.Client, admin *client.Client, base, orgID string) {
	ctx := t.Context()
	p, _, err := admin.CreateProject(ctx, orgID, "team", ptr(int64(100_000)))
	mustOK(t, err)
	_, _, err = admin.CreateProject(ctx, orgID, "team", nil)
	wantStatus(t, err, 409)
	open, _, err := admin.CreateProject(ctx, orgID, "open", nil)
	mustOK(t, err)
	_, _, err = admin.Projects(ctx, orgID)
	mustOK(t, err)
	_, _, err = admin.Project(ctx, p.ID)
	mustOK(t, err)
	_, _, err = admin.Project(ctx, "prj_nope")
	wantStatus(t, err, 404)
	_, _, err = admin.SetProjectQuota(ctx, open.ID, ptr(int64(5)))
	mustOK(t, err)
	_, _, err = admin.SetProjectQuota(ctx, open.ID, nil)
	mustOK(t, err)
	_, _, err = admin.CreateProjectKey(ctx, orgID, p.ID, "admin", "a")
	wantStatus(t, err, 422)
	k, _, err := admin.CreateProjectKey(ctx, orgID, p.ID, "writer", "team")
	mustOK(t, err)
	pk := client.New(base, k.Secret)
	pk.HTTP = hc
	id, _, err := pk.Upload(ctx, client.UploadRequest{Name: "team", Type: "embed-input", Data: file("t.jsonl", "{\"text\":\"t\"}\n")})
	mustOK(t, err)
	d, _, err := pk.Get(ctx, id)
	mustOK(t, err)
	if d.ProjectID == nil || *d.ProjectID != p.ID {
		t.Errorf("a project's dataset has project_id %v, want %s", d.ProjectID, p.ID)
	}
	u, _, err := pk.Usage(ctx)
	mustOK(t, err)
	if u.ProjectID != p.ID || u.ProjectLimitBytes == nil || *u.ProjectLimitBytes != 100_000 {
		t.Errorf("a project key's usage: %+v", u)
	}
	_, _, err = pk.Breakdown(ctx)
	mustOK(t, err)
	_, _, err = admin.Breakdown(ctx)
	mustOK(t, err)
	wantStatus(t, admin.DeleteProject(ctx, p.ID, false), 409)
	mustOK(t, admin.DeleteProject(ctx, p.ID, true))
	mustOK(t, admin.DeleteProject(ctx, open.ID, false))
	wantStatus(t, admin.DeleteProject(ctx, open.ID, false), 404)
}

// exerciseWebhooks calls every webhook route (silo's default URL check:
// http(s) only, as silotest sets no guard).
func exerciseWebhooks(t *testing.T, admin, w *client.Client) {
	ctx := t.Context()
	hook, _, err := w.CreateWebhook(ctx, client.WebhookRequest{URL: "https://hooks.example/x", Events: []string{"dataset.validated"}})
	mustOK(t, err)
	if !strings.HasPrefix(hook.Secret, "whsec_") || hook.OrgID == nil {
		t.Errorf("created webhook = %+v", hook)
	}
	_, _, err = w.CreateWebhook(ctx, client.WebhookRequest{URL: "https://hooks.example/x", Events: []string{"dataset.bogus"}})
	wantStatus(t, err, 422)
	_, _, err = w.CreateWebhook(ctx, client.WebhookRequest{URL: "https://hooks.example/x", AllOrgs: true})
	wantStatus(t, err, 403)
	ops, _, err := admin.CreateWebhook(ctx, client.WebhookRequest{URL: "https://ops.example/x", AllOrgs: true})
	mustOK(t, err)
	list, _, err := w.Webhooks(ctx, "", false)
	mustOK(t, err)
	if len(list) != 1 || list[0].ID != hook.ID || list[0].Secret != "" {
		t.Errorf("webhooks = %+v", list)
	}
	all, _, err := admin.Webhooks(ctx, "", true)
	mustOK(t, err)
	if len(all) != 2 {
		t.Errorf("all webhooks = %d", len(all))
	}
	_, _, err = w.Deliveries(ctx, hook.ID, 10)
	mustOK(t, err)
	_, _, err = w.Deliveries(ctx, ops.ID, 10) // another org's: not found
	wantStatus(t, err, 404)
	wantStatus(t, w.DeleteWebhook(ctx, ops.ID), 404)
	mustOK(t, w.DeleteWebhook(ctx, hook.ID))
	mustOK(t, admin.DeleteWebhook(ctx, ops.ID))
}
