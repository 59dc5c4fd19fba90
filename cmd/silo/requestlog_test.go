package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestRequestLogKeptOnSIGTERM: request log lines are buffered (no write(2)
// per request), yet every one of them is on stderr after a SIGTERM, even
// those of the last moment before it.
func TestRequestLogKeptOnSIGTERM(t *testing.T) {
	const key = "silo_requestlog_key_1234567890"
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + key, "SILO_RATE_LIMIT=0"}, "--data", t.TempDir())
	const n = 300
	for i := 0; i < n; i++ {
		req := newRequest(t, "GET", p.URL+"/v1/datasets/usage", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("usage: %d", resp.StatusCode)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	// The process has exited; its last lines may still be on their way
	// through the test's stderr pipe.
	count := func() int { return strings.Count(p.Logs(), `route="GET /v1/datasets/usage" status=200`) }
	for deadline := time.Now().Add(5 * time.Second); count() < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := count(); got != n {
		t.Fatalf("%d of %d request lines logged:\n%.2000s", got, n, p.Logs())
	}
}
