package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// A database that cannot grow (SQLite's own SQLITE_FULL, here from
// max_page_count rather than a full disk, which the disk-full integration
// test covers) refuses writes with "storage is full", an unavailable error
// that names no path, and keeps answering reads.
func TestDatabaseFullIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := s.w.QueryRowContext(t.Context(), `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(t.Context(), fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	var full error
	for i := 0; i < 10_000 && full == nil; i++ {
		full = s.CreateOrg(t.Context(), &silo.Org{ID: silo.NewID("org_"), Name: fmt.Sprintf("org-%d-%s", i, strings.Repeat("x", 400)), CreatedAt: time.Now()})
	}
	if full == nil {
		t.Fatal("the database never filled up")
	}
	if code := silo.ErrorCode(full); code != silo.EUNAVAILABLE || !silo.IsTransient(full) {
		t.Fatalf("code %q (%v), want unavailable", code, full)
	}
	if msg := silo.ErrorMessage(full); !strings.Contains(msg, "storage is full") || strings.Contains(msg, dir) {
		t.Fatalf("message %q", msg)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("reads stopped too: %v", err)
	}
}
