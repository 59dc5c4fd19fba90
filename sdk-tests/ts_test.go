// Package sdktests runs the official Cohere SDKs' own code against a real
// silo server, as their users would.
package sdktests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/internal/testenv"
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
	proxy := testenv.StartCutProxy(t, "", 20_000_000)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.PublicURL = proxy.URL }})
	proxy.Target = e.URL[len("http://"):] // before any connection: node starts below

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SILO_URL="+e.URL, "SILO_TUS_URL="+proxy.URL, "SILO_API_KEY="+e.AdminKey, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in sdk-tests/ts: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
	conns, cuts := proxy.Conns.Load(), proxy.Cuts.Load()
	t.Logf("the proxy carried %d connections and cut %d of them", conns, cuts)
	if cuts < 3 {
		t.Fatalf("the proxy cut %d connections; the tus test wants several cuts to resume from", cuts)
	}
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
