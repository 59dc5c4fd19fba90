// Package silotest runs a real silo server in-process for tests: SQLite
// metadata and disk blobs in a temp dir, the real validator, the real HTTP
// API on a loopback port. Nothing is mocked.
package silotest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/validate"
)

// Options tune the server; zero values take silo's defaults.
type Options struct {
	Dir            string // data directory; default a new temp dir
	DefaultQuota   int64
	MaxDatasetSize int64
	Retention      time.Duration
	URLTTL         time.Duration
	Logger         *slog.Logger // default: discard
	// Configure, if set, is called on the server before it opens (to add
	// middleware, extra routes...).
	Configure func(*api.Server)
}

// Env is a running server and what tests need to talk to it.
type Env struct {
	Dir      string
	URL      string
	AdminKey string // admin key of organisation "default"
	Store    *sqlite.Store
	Blobs    *disk.Store
	Service  *silo.Service
	Server   *api.Server

	cancel   context.CancelFunc
	done     chan struct{}
	closed   bool
	closeErr error
}

const adminSecret = "silo_test_admin_key"

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(o.Dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := disk.Open(filepath.Join(o.Dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &silo.Service{
		Store: store, Blobs: blobs, Validator: validate.New(validate.Options{}), Logger: o.Logger,
		Node: silo.NewID("node_"), DefaultQuota: o.DefaultQuota, MaxDatasetSize: o.MaxDatasetSize,
		Retention: o.Retention, Workers: 2,
	}
	if _, err := svc.Bootstrap(ctx, adminSecret); err != nil {
		t.Fatal(err)
	}
	if err := svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := store.Setting(ctx, "url_signing_key", "test-signing-key")
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Service: svc, Logger: o.Logger, Addr: "127.0.0.1:0", URLTTL: o.URLTTL,
		SigningKey: []byte(key), ShutdownGrace: 5 * time.Second}
	if o.Configure != nil {
		o.Configure(srv)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	bg, cancel := context.WithCancel(ctx)
	e := &Env{Dir: o.Dir, URL: srv.URL(), AdminKey: adminSecret, Store: store, Blobs: blobs,
		Service: svc, Server: srv, cancel: cancel, done: make(chan struct{})}
	go func() { svc.Run(bg); close(e.done) }()
	t.Cleanup(func() {
		e.Close()
		if e.closeErr != nil {
			t.Errorf("stopping the test server: %v", e.closeErr)
		}
	})
	return e
}

// Close stops the server (draining) and closes the stores. Safe to call
// twice; what fails is reported when the test ends.
func (e *Env) Close() {
	if e.closed {
		return
	}
	e.closed = true
	e.closeErr = e.Server.Close()
	e.cancel()
	<-e.done
	if err := e.Store.Close(); e.closeErr == nil {
		e.closeErr = err
	}
}

// Admin is the caller of the bootstrap admin key.
func (e *Env) Admin(t testing.TB) *silo.Caller {
	t.Helper()
	k, err := e.Service.Authenticate(context.Background(), adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	return &silo.Caller{Key: k}
}

// Org creates an organisation with a quota (0: the default) and returns its
// id and a key of the given role.
func (e *Env) Org(t testing.TB, name string, quota int64, role silo.Role) (orgID, key string) {
	t.Helper()
	ctx := context.Background()
	var q *int64
	if quota > 0 {
		q = &quota
	}
	org, err := e.Service.CreateOrg(ctx, e.Admin(t), name, q)
	if err != nil {
		t.Fatal(err)
	}
	return org.ID, e.Key(t, org.ID, role)
}

// Key creates a key of a role in an organisation.
func (e *Env) Key(t testing.TB, orgID string, role silo.Role) string {
	t.Helper()
	k, err := e.Service.CreateKey(context.Background(), e.Admin(t), orgID, "", role, string(role))
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

// Usage reads an organisation's counters straight from the store.
func (e *Env) Usage(t testing.TB, orgID string) *silo.Org {
	t.Helper()
	o, err := e.Store.Org(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// WaitValidated waits until the dataset's validation ends and returns it.
func (e *Env) WaitValidated(t testing.TB, orgID, id string) *silo.Dataset {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := e.Store.Dataset(context.Background(), orgID, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.Final() {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("dataset %s still %s after 30s", id, d.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitJobs waits until no validation job is pending.
func (e *Env) WaitJobs(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := e.Store.PendingJobs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d validation jobs still pending after 60s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
