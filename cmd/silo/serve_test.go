package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestBootstrapKey: the first start prints a generated admin key once and
// writes it to DATA/bootstrap.key (0600); later starts print nothing; a key
// given in SILO_BOOTSTRAP_KEY is never printed. SIGTERM exits 0.
func TestBootstrapKey(t *testing.T) {
	dir := t.TempDir()
	p := siloproc.Serve(t, nil, "--data", dir)
	raw, err := os.ReadFile(filepath.Join(dir, "bootstrap.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(raw))
	if info, err := os.Stat(filepath.Join(dir, "bootstrap.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap.key: %v %v", info, err)
	}
	if !strings.HasPrefix(key, "silo_") || strings.Count(p.Logs(), key) != 1 {
		t.Fatalf("key %q printed %d times:\n%s", key, strings.Count(p.Logs(), key), p.Logs())
	}
	checkAuth(t, p.URL, key, 200)
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	p = siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=silo_ignored_because_keys_exist"}, "--data", dir)
	if strings.Contains(p.Logs(), "silo_") {
		t.Fatalf("second start printed a key:\n%s", p.Logs())
	}
	checkAuth(t, p.URL, key, 200)
	checkAuth(t, p.URL, "silo_ignored_because_keys_exist", 401)
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	dir2 := t.TempDir()
	p = siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=silo_given_key_1234567890"}, "--data", dir2)
	if strings.Contains(p.Logs(), "silo_given") {
		t.Fatalf("a given key was printed:\n%s", p.Logs())
	}
	if _, err := os.Stat(filepath.Join(dir2, "bootstrap.key")); !os.IsNotExist(err) {
		t.Fatalf("a given key was written to disk: %v", err)
	}
	checkAuth(t, p.URL, "silo_given_key_1234567890", 200)
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	readAll(t, resp)
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

func checkAuth(t *testing.T, base, key string, want int) {
	t.Helper()
	req := newRequest(t, "GET", base+"/v1/datasets/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != want {
		t.Fatalf("usage with %q: %d, want %d", key, resp.StatusCode, want)
	}
}

// TestDataDirLocked: a second server on the same data directory refuses to
// start instead of sharing the embedded store.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	siloproc.Serve(t, nil, "--data", dir)
	out, err := runSilo(t, "serve", "--addr", "127.0.0.1:0", "--data", dir)
	if err == nil || !strings.Contains(out, "locked") {
		t.Fatalf("second server: %v\n%s", err, out)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--default-quota", "lots"},
		{"serve", "--retention", "forever"},
		{"serve", "--db", "mysql://x"},
		{"serve", "--blobs", "gs://bucket"},
		{"serve", "--tokenizer", "/nonexistent/tokenizer.json"},
	} {
		out, err := runSilo(t, append(args, "--data", t.TempDir(), "--addr", "127.0.0.1:0")...)
		if err == nil || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "silo: ") {
			t.Errorf("silo %v: %v, want one error line, got:\n%s", args, err, out)
		}
	}
}

// runSilo runs the built binary to completion and returns its output.
func runSilo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(siloproc.Binary(t), args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
