package metrics_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/metrics"
)

// start runs a real server with the metrics middleware, the timed validator
// and /metrics mounted, as cmd/silo serve does.
func start(t *testing.T) *silotest.Env {
	return silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		m := metrics.New(s.Service.Store)
		s.Service.Validator = m.Validator(s.Service.Validator)
		s.Wrap = m.Wrap
		s.Extra = map[string]http.Handler{"GET /metrics": m.Handler()}
	}})
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	status, h, body := silotest.Get(t, url+"/metrics", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", status, h.Get("Content-Type"))
	}
	return body
}

func upload(c *client.Client, t *testing.T, body string) error {
	_, _, err := c.Upload(t.Context(), client.UploadRequest{Name: "m", Type: "embed-input",
		Data: client.File{Name: "d.jsonl", Body: strings.NewReader(body), Size: int64(len(body))}})
	return err
}

func TestMetrics(t *testing.T) {
	e := start(t)
	orgID, key := e.Org(t, "small", 100, silo.RoleWriter)
	c := client.New(e.URL, key)
	row := "{\"text\":\"hello\"}\n"
	if err := upload(c, t, row); err != nil {
		t.Fatal(err)
	}
	if err := upload(c, t, strings.Repeat(row, 10)); err == nil || !strings.Contains(err.Error(), "exceeded capacity") {
		t.Fatalf("over-quota upload: %v", err)
	}
	if err := upload(c, t, "x"); err != nil { // fails validation, does not count as a refusal
		t.Fatal(err)
	}
	if _, err := http.Get(e.URL + "/v1/datasets"); err != nil { // no key: 401
		t.Fatal(err)
	}
	for _, m := range []string{"BREW", "FETCH"} { // methods a client made up share one series
		resp, err := http.DefaultClient.Do(silotest.NewRequest(t, m, e.URL+"/v1/datasets", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	e.WaitJobs(t)
	text := scrape(t, e.URL)
	for _, want := range []string{
		`silo_http_requests_total{method="POST",route="POST /v1/datasets",status="200"} 2`,
		`silo_http_requests_total{method="POST",route="POST /v1/datasets",status="400"} 1`,
		`silo_http_requests_total{method="GET",route="unmatched",status="401"} 1`,
		`silo_http_requests_total{method="OTHER",route="unmatched",status="401"} 2`,
		`silo_http_request_duration_seconds_count{method="POST",route="POST /v1/datasets"} 3`,
		`silo_quota_refusals_total 1`,
		fmt.Sprintf(`silo_org_usage_bytes{name="small",org="%s"} %d`, orgID, len(row)+1),
		fmt.Sprintf(`silo_org_quota_bytes{name="small",org="%s"} 100`, orgID),
		fmt.Sprintf(`silo_org_reserved_bytes{name="small",org="%s"} 0`, orgID),
		`silo_validation_queue_depth 0`,
		`silo_validation_queue_oldest_seconds 0`,
		`silo_validation_duration_seconds_count{outcome="validated"} 1`,
		`silo_validation_wait_seconds_count 2`,
		`silo_store_scrape_errors 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if !strings.Contains(text, `silo_http_request_bytes_total{route="POST /v1/datasets"}`) {
		t.Errorf("no request bytes of creates")
	}
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "silo_") {
			t.Errorf("metric without the silo_ prefix: %s", line)
		}
	}
}

// TestProjectMetrics: a project's usage, reserved bytes and quota are on
// /metrics with its org, id and name; a project without a quota of its
// own has no quota series, so the near-quota alerts cannot fire for it.
func TestProjectMetrics(t *testing.T) {
	e := start(t)
	orgID, _ := e.Org(t, "teams", 1000, silo.RoleWriter)
	admin := client.New(e.URL, e.AdminKey)
	q := int64(100)
	p, _, err := admin.CreateProject(t.Context(), orgID, "team-a", &q)
	if err != nil {
		t.Fatal(err)
	}
	free, _, err := admin.CreateProject(t.Context(), orgID, "free", nil)
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := admin.CreateProjectKey(t.Context(), orgID, p.ID, "writer", "w")
	if err != nil {
		t.Fatal(err)
	}
	row := "{\"text\":\"hello\"}\n"
	if err := upload(client.New(e.URL, k.Secret), t, row); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, e.URL)
	for _, want := range []string{
		fmt.Sprintf(`silo_project_usage_bytes{name="team-a",org="%s",project="%s"} %d`, orgID, p.ID, len(row)),
		fmt.Sprintf(`silo_project_reserved_bytes{name="team-a",org="%s",project="%s"} 0`, orgID, p.ID),
		fmt.Sprintf(`silo_project_quota_bytes{name="team-a",org="%s",project="%s"} 100`, orgID, p.ID),
		fmt.Sprintf(`silo_project_usage_bytes{name="free",org="%s",project="%s"} 0`, orgID, free.ID),
		fmt.Sprintf(`silo_org_usage_bytes{name="teams",org="%s"} %d`, orgID, len(row)),
		`silo_store_scrape_errors 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no %q in /metrics", want)
		}
	}
	if strings.Contains(text, `silo_project_quota_bytes{name="free"`) {
		t.Errorf("a quota series for a project without a quota")
	}
}
