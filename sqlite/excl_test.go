package sqlite_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
)

// TestKillAfterCommitKeepsIt: with the WAL index in heap memory (vfs
// unix-excl), a create acknowledged by a process that is then killed with
// SIGKILL is still there, with its usage, when the database is opened again.
func TestKillAfterCommitKeepsIt(t *testing.T) {
	if dir := os.Getenv("SILO_SQLITE_CHILD_DIR"); dir != "" {
		childCommitThenWait(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillAfterCommitKeepsIt$")
	cmd.Env = append(os.Environ(), "SILO_SQLITE_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "committed\n" {
		cmd.Process.Kill()
		t.Fatalf("child said %q, %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := s.Org(t.Context(), "org_k")
	if err != nil || o.UsedBytes != 4321 {
		t.Fatalf("after SIGKILL: org %+v, %v; want used_bytes 4321", o, err)
	}
	if _, err := s.Dataset(t.Context(), "org_k", "d-k"); err != nil {
		t.Fatalf("after SIGKILL the acknowledged dataset is gone: %v", err)
	}
}

func childCommitThenWait(dir string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		panic(err)
	}
	now := time.Now().UTC()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(s.CreateOrg(ctx, &silo.Org{ID: "org_k", Name: "k", QuotaBytes: 1 << 40, CreatedAt: now}))
	res := &silo.Reservation{ID: "res_k", OrgID: "org_k", Node: "n", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(s.OpenReservation(ctx, res))
	must(s.CreateDataset(ctx, &silo.Dataset{ID: "d-k", OrgID: "org_k", Name: "d", Type: silo.TypeEmbedInput,
		Status: silo.StatusQueued, CreatedAt: now, UpdatedAt: now, SizeBytes: 4321}, res.ID))
	os.Stdout.WriteString("committed\n")
	time.Sleep(time.Minute) // killed before this ends
}
