package api_test

import (
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/metrics"
)

// TestMetricsAuth: /metrics answers 401 without a key (showing nothing of
// any organisation), 403 to an org's reader or writer key, 200 to an admin
// key and to a metrics key; a metrics key gets 403 on every /v1 route,
// known, unknown or unimplemented; --metrics-addr's listener needs no key.
func TestMetricsAuth(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Metrics = metrics.New(s.Service.Store).Handler()
		s.MetricsAddr = "127.0.0.1:0"
	}})
	ctx := t.Context()
	orgID, writer := e.Org(t, "secretive-org", 1_000_000, silo.RoleWriter)
	admin := client.New(e.URL, e.AdminKey)
	mk, _, err := admin.CreateKey(ctx, orgID, "metrics", "prometheus")
	mustOK(t, err)
	if mk.Role != "metrics" {
		t.Fatalf("created key has role %q", mk.Role)
	}
	revoked, _, err := admin.CreateKey(ctx, orgID, "metrics", "old")
	mustOK(t, err)
	mustOK(t, admin.RevokeKey(ctx, revoked.ID))

	for _, tc := range []struct {
		name, key string
		status    int
	}{
		{"no key", "", 401},
		{"unknown key", "silo_nope", 401},
		{"revoked metrics key", revoked.Secret, 498},
		{"writer", writer, 403},
		{"reader", e.Key(t, orgID, silo.RoleReader), 403},
		{"admin", e.AdminKey, 200},
		{"metrics", mk.Secret, 200},
	} {
		status, body := scrapeWith(t, e.URL+"/metrics", tc.key)
		if status != tc.status {
			t.Errorf("%s: GET /metrics = %d, want %d: %.200s", tc.name, status, tc.status, body)
		}
		if status != 200 && strings.Contains(body, "secretive-org") {
			t.Errorf("%s: a refused /metrics shows an organisation: %.200s", tc.name, body)
		}
		if status == 200 && !strings.Contains(body, `silo_org_usage_bytes{name="secretive-org"`) {
			t.Errorf("%s: /metrics lacks the org's usage", tc.name)
		}
	}

	m := client.New(e.URL, mk.Secret)
	_, _, err = m.Usage(ctx)
	wantStatus(t, err, 403)
	_, _, err = m.List(ctx, client.ListOptions{})
	wantStatus(t, err, 403)
	_, _, err = m.Orgs(ctx)
	wantStatus(t, err, 403)
	_, _, err = m.CreateKey(ctx, orgID, "admin", "escalate")
	wantStatus(t, err, 403)
	for _, p := range []string{"/v1/datasets/nope-123456", "/v1/embed-jobs", "/v1/nowhere", "/v2/chat"} {
		if status, body := scrapeWith(t, e.URL+p, mk.Secret); status != 403 {
			t.Errorf("metrics key on %s: %d, want 403: %.200s", p, status, body)
		}
	}

	// The separate listener: no key needed, and it serves /metrics only.
	if e.Server.MetricsURL() == "" {
		t.Fatal("no metrics listener")
	}
	if status, body := scrapeWith(t, e.Server.MetricsURL()+"/metrics", ""); status != 200 || !strings.Contains(body, "silo_org_quota_bytes") {
		t.Errorf("--metrics-addr /metrics without a key: %d %.200s", status, body)
	}
	if status, _ := scrapeWith(t, e.Server.MetricsURL()+"/v1/datasets", writer); status != 404 {
		t.Errorf("--metrics-addr serves /v1/datasets: %d", status)
	}
}

func scrapeWith(t *testing.T, url, key string) (int, string) {
	t.Helper()
	status, _, body := silotest.Get(t, url, key)
	return status, body
}
