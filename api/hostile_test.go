package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/validate"
)

// Hostile and slow clients cost only themselves: helpers for tests that run
// the API on either metadata store, seed a large organisation straight into
// the store, and hold slow raw-TCP readers against it.

// hostNode is the API in this process over a metadata store the test
// chose (SQLite, or a real PostgreSQL), wired as `silo serve` wires it:
// every store call the service makes under WithDeadlines. No background
// work runs; these tests measure the request path.
type hostNode struct {
	URL   string
	Store silo.Store // as opened, without the deadlines
	Blobs silo.BlobStore
	Svc   *silo.Service
	admin *silo.Caller
}

const (
	hostAdminKey   = "silo_hostile_admin_key"
	hostSigningKey = "hostile-signing-key"
)

func startHost(t *testing.T, st silo.Store, deadline time.Duration, configure func(*api.Server)) *hostNode {
	t.Helper()
	ctx := context.Background()
	blobs, err := disk.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := &silo.Service{Store: silo.WithDeadlines(st, deadline), Blobs: blobs, Validator: validate.New(validate.Options{}),
		Logger: logger, Node: silo.NewID("node_")}
	if _, err := svc.Bootstrap(ctx, hostAdminKey); err != nil {
		t.Fatal(err)
	}
	k, err := svc.Authenticate(ctx, hostAdminKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Service: svc, Logger: logger, Addr: "127.0.0.1:0", SigningKey: []byte(hostSigningKey),
		ShutdownGrace: 5 * time.Second}
	if configure != nil {
		configure(srv)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &hostNode{URL: srv.URL(), Store: st, Blobs: blobs, Svc: svc, admin: &silo.Caller{Key: k}}
}

// org creates an organisation and a key of role for it.
func (n *hostNode) org(t *testing.T, name string, role silo.Role) (orgID, key string) {
	t.Helper()
	ctx := context.Background()
	o, err := n.Svc.CreateOrg(ctx, n.admin, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := n.Svc.CreateKey(ctx, n.admin, o.ID, "", role, name)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID, k.Secret
}

func openSQLite(t *testing.T) silo.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T, dbURL string) silo.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seedDatasets stores n datasets of org straight through the store's
// upload calls (no bytes, no validation), each carrying samples of about
// sampleBytes in all, so that a list of them is large. created_at(i) is
// the i-th dataset's creation time.
func seedDatasets(t *testing.T, st silo.Store, orgID string, n, sampleBytes int, createdAt func(i int) time.Time) {
	t.Helper()
	ctx := context.Background()
	samples := make([]string, 8)
	for i := range samples {
		samples[i] = fmt.Sprintf(`{"text":"sample %d %s"}`, i, strings.Repeat("x", max(sampleBytes/len(samples)-30, 0)))
	}
	for i := range n {
		at := createdAt(i)
		r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, Node: "seed", CreatedAt: at, ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.OpenReservation(ctx, r); err != nil {
			t.Fatal(err)
		}
		key := silo.NewBlobKey()
		if err := st.AddPendingBlob(ctx, r.ID, orgID, key); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Reserve(ctx, r.ID, 10, 10); err != nil {
			t.Fatal(err)
		}
		d := &silo.Dataset{ID: fmt.Sprintf("%s-%06d", orgID, i), OrgID: orgID, Name: fmt.Sprintf("seeded %d", i),
			Type: silo.TypeEmbedInput, Status: silo.StatusValidated, CreatedAt: at, UpdatedAt: at, SizeBytes: 10,
			Parts: []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL,
				BlobKey: key, SizeBytes: 10, SHA256: "ab", NumRows: 8, Samples: samples}}}
		if err := st.CreateDataset(ctx, d, r.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// slowReader is a client that asks for an answer and then reads it at one
// byte a second, through a 4 KiB receive buffer: a bad link, or a tenant
// that means harm. started is closed once the answer's first byte came.
type slowReader struct {
	c       net.Conn
	started chan struct{}
	done    chan struct{}
}

func startSlowReader(t *testing.T, base, key, path string) *slowReader {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	s := &slowReader{c: c, started: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(s.close)
	auth := "" // a download's URL is its own authorisation
	if key != "" {
		auth = "Authorization: Bearer " + key + "\r\n"
	}
	writeConn(t, c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path, auth)
	go s.read()
	return s
}

func (s *slowReader) read() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	b := make([]byte, 1)
	for first := true; ; first = false {
		if _, err := s.c.Read(b); err != nil {
			return
		}
		if first {
			close(s.started)
		}
		select {
		case <-tick.C:
		case <-s.done:
			return
		}
	}
}

func (s *slowReader) close() {
	select {
	case <-s.done:
	default:
		close(s.done)
		s.c.Close()
	}
}

// startSlowReaders starts n slow readers of path and waits (up to 20 s)
// for their answers to start; it returns how many did.
func startSlowReaders(t *testing.T, n int, base, key, path string) ([]*slowReader, int) {
	t.Helper()
	rs := make([]*slowReader, n)
	for i := range rs {
		rs[i] = startSlowReader(t, base, key, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, r := range rs {
		select {
		case <-r.started:
		case <-ctx.Done():
		}
	}
	started := 0
	for _, r := range rs {
		select {
		case <-r.started:
			started++
		default:
		}
	}
	return rs, started
}

// latencies sends GET path with key n times, one after another, and
// returns how long each took, sorted. A request that fails, or does not
// answer 200 within 10 s, fails the test with what happened.
func latencies(t *testing.T, base, key, path string, n int) []time.Duration {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	out := make([]time.Duration, 0, n)
	for i := range n {
		req := newRequest(t, "GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d of another organisation (%s): %v after %v", i, path, err, time.Since(start))
		}
		discard(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d of another organisation (%s): %d after %v", i, path, resp.StatusCode, time.Since(start))
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

// quantiles is the median and the 99th percentile of sorted durations.
func quantiles(d []time.Duration) (p50, p99 time.Duration) {
	return d[len(d)/2], d[len(d)*99/100]
}

// stores runs fn against SQLite and against a real PostgreSQL.
func stores(t *testing.T, fn func(t *testing.T, open func(t *testing.T) silo.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite) })
	t.Run("postgres", func(t *testing.T) {
		fn(t, func(t *testing.T) silo.Store { return openPostgres(t, testenv.Postgres(t)) })
	})
}
