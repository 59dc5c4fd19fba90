package silo_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
)

// TestUploadStoreDeadline: while another process holds SQLite's write
// lock, an upload's store call gives up after the deadline with ETIMEOUT
// (504) instead of waiting for SQLite's busy timeout, and once the lock is
// gone the same upload path works.
func TestUploadStoreDeadline(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bl, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &silo.Service{Store: silo.WithDeadlines(st, 300*time.Millisecond), Blobs: bl, Node: "n"}
	if _, err := svc.Bootstrap(ctx, "silo_deadline_key"); err != nil {
		t.Fatal(err)
	}
	k, err := svc.Authenticate(ctx, "silo_deadline_key")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := svc.Store.(silo.IdempotencyStore); !ok {
		t.Fatal("the wrapper hides the store's IdempotencyStore")
	}
	// A busy timeout: the server may be committing (the org and key just
	// made, a sweep) just as the lock is taken (SQLITE_BUSY, seen in CI).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "silo.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	req := silo.UploadRequest{Name: "x", Type: silo.TypeEmbedInput, ContentLength: -1}
	start := time.Now()
	_, err = svc.BeginUpload(ctx, &silo.Caller{Key: k}, req)
	if silo.ErrorCode(err) != silo.ETIMEOUT || time.Since(start) > 5*time.Second {
		t.Fatalf("BeginUpload under a held lock: %v after %v, want a timeout soon after 300ms", err, time.Since(start))
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	u, err := svc.BeginUpload(ctx, &silo.Caller{Key: k}, req)
	if err != nil {
		t.Fatal(err)
	}
	u.Abort()
}
