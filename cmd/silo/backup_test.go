package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/transfer"
)

// A backup file holds the URL signing secret and every tenant's files: it
// is written 0600 whatever the umask, and an existing file (another
// backup, or anything else) is replaced only with --force.
func TestBackupFile(t *testing.T) {
	startBackupServer(t)
	// A permissive umask must not open the file up.
	defer syscall.Umask(syscall.Umask(0))

	dir := t.TempDir()
	out := filepath.Join(dir, "silo.tar")
	mustCLI(t, "backup", "-o", out)
	mode := func() os.FileMode {
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("backup written with mode %v, want 0600", m)
	}

	mine := []byte("not a backup")
	if err := os.WriteFile(out, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := cli(t, "backup", "-o", out)
	want := out + " exists already: pass --force to overwrite it, or -o another file"
	if err == nil || err.Error() != want || exitCode(err) != exitRefused {
		t.Fatalf("backup onto an existing file: %v (exit %d), want %q (exit %d)", err, exitCode(err), want, exitRefused)
	}
	if b, _ := os.ReadFile(out); string(b) != string(mine) {
		t.Fatalf("a refused backup changed the existing file: %d bytes", len(b))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("a refused backup left %d files in %s", len(ents), dir)
	}

	mustCLI(t, "backup", "-o", out, "--force")
	if b, _ := os.ReadFile(out); len(b) < 1024 || string(b) == string(mine) {
		t.Fatalf("--force did not replace the file (%d bytes)", len(b))
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("backup over a 0644 file with --force has mode %v, want 0600", m)
	}
}

// startBackupServer starts a server on the embedded stores that takes
// backups, as silo serve's does, for the CLI in this process.
func startBackupServer(t *testing.T) *silotest.Env {
	t.Helper()
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		b := &transfer.Backup{Store: s.Service.Store, Blobs: s.Service.Blobs, Pins: &s.Service.Pins, TempDir: t.TempDir()}
		s.Backup = func(ctx context.Context) (api.BackupSnapshot, error) { return b.Snapshot(ctx) }
	}})
	t.Setenv("SILO_URL", e.URL)
	t.Setenv("SILO_API_KEY", e.AdminKey)
	waitInterval = 10 * time.Millisecond
	return e
}
