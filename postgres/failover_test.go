package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/testenv"
)

// A server that turns read-only (a switchover's demotion, or maintenance)
// loses every connection of the pool at the first statement that learns
// it: none is returned to the pool, calls meanwhile are unavailable (503),
// and once the server takes writes again the store serves without being
// reopened. The URL names no target_session_attrs: the store asks for a
// read-write server anyway, so it does not reconnect to the read-only one.
func TestReadOnlyServerLosesThePool(t *testing.T) {
	pg := testenv.OwnPostgres(t)
	s := open(t, pg.URL)
	defer s.Close()
	ctx := t.Context()
	org := &silo.Org{ID: silo.NewID("org_"), Name: "ro", QuotaBytes: 1000, CreatedAt: time.Now()}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	// Several connections in the pool, as a node under load holds.
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if err := s.Ping(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := conns(t, pg); n < 2 {
		t.Fatalf("%d connections before the switch, want several", n)
	}

	if err := pg.SetReadOnly(ctx); err != nil {
		t.Fatal(err)
	}
	// The reload reaches the backends a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for err := s.Ping(ctx); err == nil; err = s.Ping(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("pings of a read-only server go on succeeding")
		}
	}
	if err := s.Ping(ctx); silo.ErrorCode(err) != silo.EUNAVAILABLE {
		t.Fatalf("ping of a read-only server: %v (code %q), want unavailable", err, silo.ErrorCode(err))
	}
	waitConns(t, pg, none)
	if _, err := s.Org(ctx, org.ID); silo.ErrorCode(err) != silo.EUNAVAILABLE {
		t.Fatalf("read while the only server is read-only: %v, want unavailable", err)
	}
	if n := conns(t, pg); n != 0 {
		t.Fatalf("%d connections on the read-only server after a new call", n)
	}

	if err := pg.SetReadWrite(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping once the server takes writes again: %v", err)
	}
	if _, err := s.Org(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
}

func none(n int) bool { return n == 0 }

func conns(t *testing.T, pg *testenv.PGServer) int {
	t.Helper()
	n, err := pg.ClientConns(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitConns waits until the number of client connections on the server
// is as want says: a dropped connection's backend ends a moment after the
// close, and a node opens its first ones as its work starts.
func waitConns(t *testing.T, pg *testenv.PGServer, want func(n int) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for n := conns(t, pg); !want(n); n = conns(t, pg) {
		select {
		case <-ctx.Done():
			t.Fatalf("%d client connections on the server", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A node that serves no request leaves a server that turned read-only as
// well, within a few seconds: its validation workers' claims are writes.
func TestIdleNodeLeavesReadOnlyServer(t *testing.T) {
	pg := testenv.OwnPostgres(t)
	s := open(t, pg.URL)
	defer s.Close()
	blobs, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	svc := &silo.Service{Store: s, Blobs: blobs, Node: "idle"}
	wg.Go(func() { svc.Run(ctx) })
	waitConns(t, pg, func(n int) bool { return n > 0 })
	if err := pg.SetReadOnly(ctx); err != nil {
		t.Fatal(err)
	}
	waitConns(t, pg, none)
}
