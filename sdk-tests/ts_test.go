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

	"github.com/silo-datasets/silo/internal/silotest"
)

// TestTypeScriptSDK runs sdk-tests/ts (node --test, npm cohere-ai 8.1.0)
// against an in-process server. Without node or the installed packages it
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
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "cohere-ai", "package.json")); err != nil {
		missing(t, "sdk-tests/ts/node_modules is missing: run scripts/install-browser-deps.sh (or npm ci --prefix sdk-tests/ts)")
	}
	e := silotest.Start(t, silotest.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SILO_URL="+e.URL, "SILO_API_KEY="+e.AdminKey, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test in sdk-tests/ts: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", out)
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
