package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestFsckCommand: fsck refuses to run beside a server (the data directory
// lock), finds nothing on a fresh directory, names an orphan blob and
// exits 1, and with --repair deletes it, says so and exits 0.
func TestFsckCommand(t *testing.T) {
	dir := t.TempDir()
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=silo_fsck_test_key_0123456789"}, "--data", dir)
	out, err := fsckRun(t, dir)
	if err == nil || !strings.Contains(out, "is locked") {
		t.Fatalf("fsck beside a server: %v\n%s", err, out)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if out, err := fsckRun(t, dir); err != nil || !strings.Contains(out, "consistent") {
		t.Fatalf("fresh directory: %v\n%s", err, out)
	}
	orphan := silo.NewBlobKey()
	if err := os.WriteFile(filepath.Join(dir, "blobs", "blobs", orphan), []byte("stray"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = fsckRun(t, dir)
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(out, "orphan-blob "+orphan) {
		t.Fatalf("orphan: %v\n%s", err, out)
	}
	out, err = fsckRun(t, dir, "--repair")
	if err != nil || !strings.Contains(out, "deleted orphan blob "+orphan) || !strings.Contains(out, "consistent") {
		t.Fatalf("--repair: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "blobs", orphan)); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
}

func fsckRun(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(siloproc.Binary(t), append([]string{"fsck", "--data", dir}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
