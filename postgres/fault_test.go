package postgres_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/testenv"
)

// Backends terminated by the server (57P01, as a fast shutdown does) and a
// database that is gone are the database's fault: every call answers
// EUNAVAILABLE (or succeeds on a fresh connection), never an internal
// error, and no message names the server, user or database.
func TestServerFaultsAreUnavailable(t *testing.T) {
	raw := testenv.Postgres(t)
	s := open(t, raw)
	defer s.Close()
	ctx := t.Context()
	org := &silo.Org{ID: silo.NewID("org_"), Name: "faults", QuotaBytes: 1000, CreatedAt: time.Now()}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	adminURL := strings.Replace(raw, "/"+db+"?", "/postgres?", 1)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	internals := []string{u.Host, u.Port(), db, "postgres@"}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if code := silo.ErrorCode(err); code != silo.EUNAVAILABLE {
			t.Fatalf("%s: code %q (%v), want unavailable", what, code, err)
		}
		msg := silo.ErrorMessage(err)
		for _, in := range internals {
			if strings.Contains(msg, in) {
				t.Fatalf("%s: message %q shows %q", what, msg, in)
			}
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, db); err != nil {
			t.Fatal(err)
		}
		_, err := s.Org(ctx, org.ID)
		check("read after terminate", err)
		_, err = s.Reserve(ctx, "res_none", 1, 1)
		if silo.ErrorCode(err) != silo.ENOTFOUND {
			check("write after terminate", err)
		}
	}
	if _, err := admin.Exec(ctx, `DROP DATABASE `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	err = s.Ping(ctx)
	if err == nil {
		t.Fatal("ping of a dropped database succeeded")
	}
	check("ping of a dropped database", err)
	_, err = s.Orgs(ctx)
	if err == nil {
		t.Fatal("list of a dropped database succeeded")
	}
	check("list of a dropped database", err)

	// /readyz's check names the metadata store, and nothing of the server.
	blobs, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = (&silo.Service{Store: s, Blobs: blobs}).Ready(ctx)
	check("ready", err)
	if msg := silo.ErrorMessage(err); !strings.Contains(msg, "metadata store") {
		t.Fatalf("ready: %q does not name the failing check", msg)
	}
}
