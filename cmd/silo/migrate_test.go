package main

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --from-data that does not exist or holds no silo data is refused
// before anything opens it: opening would create an empty source, migrate
// it and stamp the target, which would then refuse the right source. The
// source and the target are left as they were.
func TestMigrateRefusesMissingSource(t *testing.T) {
	for _, tc := range []struct {
		name    string
		make    func(dir string) // what --from-data holds
		entries int              // in it afterwards; -1: not there
		want    string
	}{
		{"no such directory", func(string) {}, -1, "no such directory"},
		{"an empty directory", func(dir string) { os.Mkdir(dir, 0o700) }, 0, "holds no silo data"},
		{"a directory of something else", func(dir string) {
			os.Mkdir(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not silo"), 0o600)
		}, 1, "holds no silo data"},
		{"a file", func(dir string) { os.WriteFile(dir, []byte("not silo"), 0o600) }, -2, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			from, to := filepath.Join(root, "typo"), filepath.Join(root, "target")
			tc.make(from)
			_, _, err := cli(t, "migrate", "--from-data", from, "--to-data", to)
			if err == nil || exitCode(err) == exitOK || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("migrate from %s: %v, want a refusal containing %q", tc.name, err, tc.want)
			}
			switch ents, rerr := os.ReadDir(from); tc.entries {
			case -1:
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Errorf("the refused migration created %s (%d entries)", from, len(ents))
				}
			case -2:
			default:
				if len(ents) != tc.entries {
					t.Errorf("the refused migration left %d entries in %s, want %d", len(ents), from, tc.entries)
				}
			}
			if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused migration created the target %s", to)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestMigrateProjects: migrate counts a source's projects, and the target
// holds the project with its usage (fsck, which checks project counters
// against their datasets, finds it consistent).
func TestMigrateProjects(t *testing.T) {
	from, projectID := projectDataDir(t)
	to := filepath.Join(t.TempDir(), "target")
	stdout, stderr, err := cli(t, "migrate", "--from-data", from, "--to-data", to)
	if out := stdout + stderr; err != nil || !strings.Contains(out, "source: 1 organisations, 1 projects, 2 keys, 1 datasets") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, err := fsckRun(t, to); err != nil || !strings.Contains(out, "1 projects") || !strings.Contains(out, "consistent") {
		t.Fatalf("fsck of the target: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(to, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var used int64
	if err := db.QueryRow(`SELECT used_bytes FROM projects WHERE id = ?`, projectID).Scan(&used); err != nil || used != 17 {
		t.Fatalf("the migrated project: used_bytes %d, %v; want 17", used, err)
	}
}
