package main

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// TestFsckProjects: fsck counts a project's usage as an organisation's: a
// data directory with a project's dataset is consistent; a drifted project
// counter is named, and --repair recounts it and says so.
func TestFsckProjects(t *testing.T) {
	dir, projectID := projectDataDir(t)
	if out, err := fsckRun(t, dir); err != nil || !strings.Contains(out, "1 projects") || !strings.Contains(out, "consistent") {
		t.Fatalf("a project's dataset: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`UPDATE projects SET used_bytes = used_bytes + 5`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := fsckRun(t, dir)
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(out, "found: project-usage org=") || !strings.Contains(out, projectID+": project's used_bytes is 22 but its datasets sum to 17") {
		t.Fatalf("a drifted project counter: %v\n%s", err, out)
	}
	out, err = fsckRun(t, dir, "--repair")
	if err != nil || !strings.Contains(out, "repaired: recounted project "+projectID) || !strings.Contains(out, "used_bytes 22 -> 17") || !strings.Contains(out, "consistent") {
		t.Fatalf("--repair: %v\n%s", err, out)
	}
}

// projectDataDir serves a new data directory in which a project key of the
// default organisation uploaded one 17-byte dataset, then stops the server.
func projectDataDir(t *testing.T) (dir, projectID string) {
	dir = t.TempDir()
	const admin = "silo_fsck_test_key_0123456789"
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + admin}, "--data", dir)
	t.Setenv("SILO_URL", p.URL)
	t.Setenv("SILO_API_KEY", admin)
	out := mustCLI(t, "admin", "projects", "create", "--org", "default", "team")
	projectID = regexp.MustCompile(`prj_\w+`).FindString(out)
	secret := regexp.MustCompile(`silo_\w+`).FindString(mustCLI(t, "admin", "keys", "create", "--org", "default", "--project", projectID, "--role", "writer"))
	t.Setenv("SILO_API_KEY", secret)
	mustCLI(t, "datasets", "upload", writeFile(t, "a.jsonl", "{\"text\":\"hello\"}\n"), "--name", "a", "--type", "embed-input", "--wait")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	return dir, projectID
}
