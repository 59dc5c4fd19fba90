// Package sdktests runs the official Cohere SDKs' own code against a real
// silo server, as their users would.
package sdktests

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestTypeScriptSDK runs sdk-tests/ts (node --test: npm cohere-ai 8.1.0 and
// tus-js-client 4.3.1) against an in-process server. The server's public
// URL is a loopback proxy that cuts every connection after 20 MB, so that
// tus-js-client's upload URLs go through it and must resume. Without node or the installed packages it
// fails in CI (make deps installs them) and skips elsewhere.
func TestTypeScriptSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	dir, err := filepath.Abs("ts")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"cohere-ai", "tus-js-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing(t, "sdk-tests/ts/node_modules is missing: run scripts/install-browser-deps.sh (or npm ci --prefix sdk-tests/ts)")
		}
	}
	proxy := newCuttingProxy(t, 20_000_000)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.PublicURL = proxy.url }})
	proxy.target = e.URL[len("http://"):]
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SILO_URL="+e.URL, "SILO_TUS_URL="+proxy.url, "SILO_API_KEY="+e.AdminKey, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in sdk-tests/ts: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
	conns, cuts := proxy.conns.Load(), proxy.cuts.Load()
	t.Logf("the proxy carried %d connections and cut %d of them", conns, cuts)
	if cuts < 3 {
		t.Fatalf("the proxy cut %d connections; the tus test wants several cuts to resume from", cuts)
	}
}

// cuttingProxy forwards loopback TCP connections to target and closes each
// one once it has carried limit bytes from the client: a network that
// drops connections mid-upload.
type cuttingProxy struct {
	url, target string
	limit       int64
	conns, cuts atomic.Int64
}

func newCuttingProxy(t *testing.T, limit int64) *cuttingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{url: "http://" + ln.Addr().String(), limit: limit}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *cuttingProxy) serve(c net.Conn) {
	p.conns.Add(1)
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(c, up); c.Close() }()
	n, _ := io.Copy(up, io.LimitReader(c, p.limit))
	if n == p.limit {
		p.cuts.Add(1) // the client had more to send: cut it off
	}
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
