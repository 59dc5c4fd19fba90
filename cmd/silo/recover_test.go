package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
)

// call sends a request with an API key and returns the status and body.
func call(t *testing.T, method, url, key string) (int, string) {
	t.Helper()
	req := newRequest(t, method, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(readAll(t, resp))
}

// ownKeyID is the id of the key making the request (GET /v1/me).
func ownKeyID(t *testing.T, base, key string) string {
	t.Helper()
	st, body := call(t, "GET", base+"/v1/me", key)
	var me struct{ Key struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &me); st != 200 || err != nil || me.Key.ID == "" {
		t.Fatalf("GET /v1/me: %d %s", st, body)
	}
	return me.Key.ID
}

// recoverRun runs `silo admin recover args...` and returns its stdout and
// stderr.
func recoverRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, msgs bytes.Buffer
	cmd := exec.Command(siloproc.Binary(t), append([]string{"admin", "recover"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &msgs
	err := cmd.Run()
	return out.String(), msgs.String(), err
}

// TestLastAdminKeyAndRecover, on a real server with the embedded store:
// the last admin key cannot revoke itself (409 saying why, and it keeps
// working); `silo admin recover` refuses to run beside the server (the data
// directory's lock) and on a directory that holds no store, and once the
// server is stopped prints a new admin key that the restarted server takes.
func TestLastAdminKeyAndRecover(t *testing.T) {
	dir := t.TempDir()
	const boot = "silo_recover_test_key_0123456789"
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + boot}, "--data", dir)
	st, body := call(t, "DELETE", p.URL+"/v1/admin/keys/"+ownKeyID(t, p.URL, boot), boot)
	if st != 409 || !strings.Contains(body, "last admin key") || !strings.Contains(body, "recover") {
		t.Fatalf("revoking the last admin key: %d %s; want 409 saying why", st, body)
	}
	if st, body := call(t, "GET", p.URL+"/v1/admin/orgs", boot); st != 200 {
		t.Fatalf("the last admin key after the refusal: %d %s", st, body)
	}
	if _, msgs, err := recoverRun(t, "--data", dir); err == nil || !strings.Contains(msgs, "is locked") {
		t.Fatalf("recover beside a running server: %v %s; want it refused", err, msgs)
	}
	missing := filepath.Join(dir, "nope")
	if _, msgs, err := recoverRun(t, "--data", missing); err == nil || !strings.Contains(msgs, "no silo store") {
		t.Fatalf("recover on a directory without a store: %v %s", err, msgs)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("recover on a mistyped directory created it: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	out, msgs, err := recoverRun(t, "--data", dir)
	key := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(key, "silo_") || strings.Contains(key, "\n") || !strings.Contains(msgs, "admin API key") {
		t.Fatalf("recover: %v\nstdout %q\nstderr %s", err, out, msgs)
	}
	p = siloproc.Serve(t, nil, "--data", dir)
	if st, body := call(t, "GET", p.URL+"/v1/admin/orgs", key); st != 200 {
		t.Fatalf("the recovered key: %d %s", st, body)
	}
	// With two admin keys, one may go.
	if st, body := call(t, "DELETE", p.URL+"/v1/admin/keys/"+ownKeyID(t, p.URL, boot), key); st != 200 {
		t.Fatalf("revoking the bootstrap key with the recovered one: %d %s", st, body)
	}
	if st, _ := call(t, "GET", p.URL+"/v1/admin/orgs", boot); st != 498 {
		t.Fatalf("the revoked bootstrap key: %d, want 498", st)
	}
}

// TestRecoverPostgres: with --db, recover runs beside the running node
// (PostgreSQL has no directory lock to take) and the node takes the new
// key at once.
func TestRecoverPostgres(t *testing.T) {
	db := testenv.Postgres(t)
	const boot = "silo_recover_pg_test_key_0123456789"
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + boot}, "--data", t.TempDir(), "--db", db)
	out, msgs, err := recoverRun(t, "--db", db)
	if err != nil {
		t.Fatalf("recover --db: %v %s", err, msgs)
	}
	if st, body := call(t, "GET", p.URL+"/v1/admin/orgs", strings.TrimSpace(out)); st != 200 {
		t.Fatalf("the recovered key on the running node: %d %s", st, body)
	}
}
