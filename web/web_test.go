package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/web"
)

// TestRoutes: the page and its assets are served with a strict CSP, and the
// dashboard takes no path away from the API's JSON 404.
func TestRoutes(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.Extra = web.Routes() }})
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html", 200},
		{"/ui/app.js", "text/javascript", 200},
		{"/ui/style.css", "text/css", 200},
		{"/ui/nope.js", "application/json", 404},
		{"/ui/", "application/json", 404},
		{"/index.html", "application/json", 404},
		{"/elsewhere", "application/json", 404},
	} {
		resp, err := http.Get(e.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
		if tc.status == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s: no CSP", tc.path)
		}
	}
}

// chromium finds the browser; a missing one fails the test in CI and skips
// it elsewhere (scripts/install-browser-deps.sh installs it).
func chromium(t *testing.T) string {
	path := os.Getenv("SILO_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s: run scripts/install-browser-deps.sh", path)
		}
		t.Skipf("chromium not found at %s: run scripts/install-browser-deps.sh", path)
	}
	return path
}

// browser starts a headless Chromium with its own profile, cut off from
// everything but loopback, and collects what the page logs as an error.
func browser(t *testing.T) (context.Context, func() []string) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			// Failed requests the test causes on purpose (a wrong key)
			// are the network's entries; scripts' errors and CSP
			// violations are not.
			if (m.Type == "error" && m.Source != "network") || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }
}

// clock lets a test record usage history in the past, so that the plot has
// a week of changes to show.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time {
	if v := c.ns.Load(); v != 0 {
		return time.Unix(0, v)
	}
	return time.Now()
}

// seed creates a week of datasets of several types and clients, deleting
// some, with the clock set back, and one that fails validation.
func seed(t *testing.T, e *silotest.Env, c *clock, key string) {
	start := time.Now().Add(-7 * 24 * time.Hour)
	steps := []struct {
		client, typ, name, body string
		rows                    int
		del                     bool
	}{
		{"silo-cli", "embed-input", "support tickets", `{"text":"ticket %d about billing"}`, 4000, false},
		{"cohere-python", "chat-finetune-input", "chat tuning v1", `{"messages":[{"role":"User","content":"hi %d"},{"role":"Chatbot","content":"hello"}]}`, 1500, true},
		{"cohere-python", "chat-finetune-input", "chat tuning v2", `{"messages":[{"role":"User","content":"hey %d"},{"role":"Chatbot","content":"hello there"}]}`, 2500, false},
		{"silo-web", "embed-input", "product docs", `{"text":"documentation paragraph number %d"}`, 3000, false},
		{"cohere-ts", "reranker-finetune-input", "rerank pairs", `{"query":"q %d","relevant_passages":["a relevant passage"]}`, 2000, false},
	}
	ids := make([]string, len(steps))
	for i, s := range steps {
		c.ns.Store(start.Add(time.Duration(i) * 30 * time.Hour).UnixNano())
		var b strings.Builder
		for r := 0; r < s.rows; r++ {
			b.WriteString(strings.ReplaceAll(s.body, "%d", strconv.Itoa(r)) + "\n")
		}
		cl := client.New(e.URL, key)
		cl.ClientName = s.client
		id, _, err := cl.Upload(t.Context(), client.UploadRequest{Name: s.name, Type: s.typ,
			Data: client.File{Name: strings.ReplaceAll(s.name, " ", "_") + ".jsonl", Body: strings.NewReader(b.String()), Size: int64(b.Len())}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
		e.WaitJobs(t)
	}
	c.ns.Store(start.Add(6 * 24 * time.Hour).UnixNano())
	cl := client.New(e.URL, key)
	if err := cl.Delete(t.Context(), ids[1]); err != nil {
		t.Fatal(err)
	}
	// Well-formed JSONL that is not a chat: it is accepted and fails
	// validation (a CSV would be refused at create, before validation).
	bad := "{\"prompt\":\"only one field\"}\n"
	if _, _, err := cl.Upload(t.Context(), client.UploadRequest{Name: "broken upload", Type: "chat-finetune-input",
		Data: client.File{Name: "broken.jsonl", Body: strings.NewReader(bad), Size: int64(len(bad))}}); err != nil {
		t.Fatal(err)
	}
	e.WaitJobs(t)
	c.ns.Store(0)
}

// artifact writes a file for CI to keep: under $SILO_ARTIFACTS if set,
// else a temp dir; it logs where.
func artifact(t *testing.T, name string, b []byte) {
	dir := os.Getenv("SILO_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "silo-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
}
