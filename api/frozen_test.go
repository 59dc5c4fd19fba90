package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
)

// TestFrozenPostgresEveryRouteAnswers: with PostgreSQL frozen (SIGSTOP of
// the postmaster and its children: connections open, nothing answers),
// the routes that have no request deadline of their own (a chunked
// upload, an unpaged list, a backup) answer 503 or 504 soon after the
// store deadline, since authentication's store call has that deadline
// too; after the thaw they are served again.
func TestFrozenPostgresEveryRouteAnswers(t *testing.T) {
	pg := testenv.OwnPostgres(t)
	const deadline = time.Second
	n := startHost(t, openPostgres(t, pg.URL), deadline, nil)
	_, key := n.org(t, "frozen", silo.RoleWriter)
	routes := []struct {
		name, method, path, key string
		body                    string
	}{
		{"chunked upload", "POST", "/v1/datasets?name=f&type=embed-input", key,
			"--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n{\"text\":\"a\"}\n\r\n--b--\r\n"},
		{"unpaged list", "GET", "/v1/datasets", key, ""},
		{"backup", "GET", "/v1/admin/backup", hostAdminKey, ""},
	}
	ask := func(method, path, key, body string) (int, time.Duration) {
		t.Helper()
		req := newRequest(t, method, n.URL+path, strings.NewReader(body))
		req.ContentLength = -1 // chunked, as large uploads go
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		client := &http.Client{Timeout: 20 * time.Second}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v after %v", method, path, err, time.Since(start))
		}
		discard(t, resp)
		return resp.StatusCode, time.Since(start)
	}
	for _, r := range routes {
		if st, _ := ask(r.method, r.path, r.key, r.body); st >= 500 && st != 501 {
			t.Fatalf("%s before the freeze: %d", r.name, st)
		}
	}
	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			pg.Thaw()
		}
	}()
	for _, r := range routes {
		st, took := ask(r.method, r.path, r.key, r.body)
		t.Logf("%s with PostgreSQL frozen: %d after %v", r.name, st, took.Round(time.Millisecond))
		if st != 503 && st != 504 {
			t.Errorf("%s with PostgreSQL frozen: %d, want 503 or 504", r.name, st)
		}
		if took > deadline+10*time.Second {
			t.Errorf("%s with PostgreSQL frozen answered after %v, want soon after the %v deadline", r.name, took, deadline)
		}
	}
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	waitFor(t, func() bool { st, _ := ask("GET", "/v1/datasets", key, ""); return st == 200 })
}
