package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/logbuf"
	"github.com/silo-datasets/silo/metrics"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/s3"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/validate"
	"github.com/silo-datasets/silo/validate/hfbpe"
	"github.com/silo-datasets/silo/webhook"
)

// Config is silo serve's configuration: flags, each defaulting to its
// environment variable (CONTRACT.md lists them).
type Config struct {
	Addr           string
	Data           string
	DB             string
	Blobs          string
	DefaultQuota   string
	MaxDatasetSize string
	RateLimit      string
	Retention      string
	PublicURL      string
	URLTTL         string
	LeaseTTL       string
	UploadTTL      string
	Workers        int
	LogFormat      string
	MemoryLimit    string
	MaxInFlight    int
	RequestTimeout string
	TLSCert        string
	TLSKey         string
	Tokenizer      string
	MetricsAddr    string
	edgeConfig     // limits.go: free space and fairness
	hookConfig     // hooks.go: webhooks
}

func newServeCommand() *cobra.Command {
	var c Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the silo server (embedded SQLite + disk by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := &Main{Config: c}
			return m.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Addr, "addr", env("SILO_ADDR", "127.0.0.1:8080"), "listen address HOST:PORT; port 0 picks a free port (SILO_ADDR)")
	f.StringVar(&c.Data, "data", env("SILO_DATA", "./silo-data"), "data directory of the embedded stores (SILO_DATA)")
	f.StringVar(&c.DB, "db", env("SILO_DB", ""), "metadata store URL: sqlite:///path/silo.db or postgres://... (SILO_DB; default sqlite in --data)")
	f.StringVar(&c.Blobs, "blobs", env("SILO_BLOBS", ""), "blob store URL: file:///path or s3://bucket?endpoint=...&region=... (SILO_BLOBS; default file in --data)")
	f.StringVar(&c.DefaultQuota, "default-quota", env("SILO_DEFAULT_QUOTA", "10GB"), "quota of an organisation created without one (SILO_DEFAULT_QUOTA)")
	f.StringVar(&c.MaxDatasetSize, "max-dataset-size", env("SILO_MAX_DATASET_SIZE", "1.5GB"), "largest dataset, all its files together (SILO_MAX_DATASET_SIZE)")
	f.StringVar(&c.RateLimit, "rate-limit", env("SILO_RATE_LIMIT", "500/min"), "requests per API key, N/sec|min|hour; 0 turns it off (SILO_RATE_LIMIT)")
	f.StringVar(&c.Retention, "retention", env("SILO_RETENTION", "30d"), "delete datasets this long after creation; 0 keeps them (SILO_RETENTION)")
	f.StringVar(&c.PublicURL, "public-url", env("SILO_PUBLIC_URL", ""), "base of signed download URLs (SILO_PUBLIC_URL; default http://ADDR)")
	f.StringVar(&c.Tokenizer, "tokenizer", env("SILO_TOKENIZER", ""), "Hugging Face tokenizer.json (byte-level BPE) that validation counts tokens with; default characters/4 (SILO_TOKENIZER)")
	f.StringVar(&c.URLTTL, "url-ttl", env("SILO_URL_TTL", "1h"), "lifetime of a signed download URL (SILO_URL_TTL)")
	f.StringVar(&c.UploadTTL, "upload-ttl", env("SILO_UPLOAD_TTL", "24h"), "how long a resumable upload lives after its last PATCH; an incomplete one is then removed and its reservation released (SILO_UPLOAD_TTL)")
	f.StringVar(&c.LeaseTTL, "lease-ttl", env("SILO_LEASE_TTL", "30s"), "how long a dead node's uploads and validation jobs stay held before another node takes over (SILO_LEASE_TTL)")
	f.IntVar(&c.Workers, "workers", 2, "validation workers")
	f.IntVar(&c.MaxInFlight, "max-inflight", envInt("SILO_MAX_INFLIGHT", api.DefaultMaxInFlight), "API requests served at once; more get 503 + Retry-After (SILO_MAX_INFLIGHT)")
	f.StringVar(&c.RequestTimeout, "request-timeout", env("SILO_REQUEST_TIMEOUT", "30s"), "deadline of every API request except uploads and downloads; past it, 504 (SILO_REQUEST_TIMEOUT)")
	f.StringVar(&c.TLSCert, "tls-cert", env("SILO_TLS_CERT", ""), "PEM certificate file: serve HTTPS (with --tls-key) (SILO_TLS_CERT)")
	f.StringVar(&c.TLSKey, "tls-key", env("SILO_TLS_KEY", ""), "PEM private key file of --tls-cert (SILO_TLS_KEY)")
	f.StringVar(&c.MetricsAddr, "metrics-addr", env("SILO_METRICS_ADDR", ""), "also serve /metrics without an API key on this HOST:PORT, for a private network (SILO_METRICS_ADDR; default: /metrics only on --addr, with an admin or metrics key)")
	f.StringVar(&c.MemoryLimit, "memory-limit", env("SILO_MEMORY_LIMIT", "auto"), "soft memory limit of the Go runtime: auto (a quarter of the machine's or cgroup's memory; GOMEMLIMIT wins), off, or a size (SILO_MEMORY_LIMIT)")
	edgeFlags(f, &c.edgeConfig)
	hookFlags(f, &c.hookConfig)
	f.StringVar(&c.LogFormat, "log-format", env("SILO_LOG_FORMAT", "text"), "log format: text or json (SILO_LOG_FORMAT)")
	return cmd
}

// Main is a running silo server: every part built explicitly from Config.
type Main struct {
	Config Config
	Logger *slog.Logger

	Store      silo.Store
	Blobs      silo.BlobStore
	Service    *silo.Service
	Server     *api.Server
	Dispatcher *webhook.Dispatcher // delivers the outbox (hooks.go)

	metrics *metrics.Metrics

	unlock func()
	logOut *logbuf.Writer // the log's buffer; flushed on Close
}

// logFlushInterval: a log line reaches stderr at most this long after it
// was written; requests' lines cost no write(2) each.
const logFlushInterval = 100 * time.Millisecond

// Run opens everything, serves until ctx ends (SIGINT/SIGTERM), then drains
// and closes.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); m.runHooks(bg) }()
		m.Service.Run(bg)
		wg.Wait()
		close(done)
	}()
	<-ctx.Done()
	m.Logger.Info("shutting down: draining requests in flight")
	err := m.Server.Close()
	cancel()
	<-done
	m.finalSweep()
	return errors.Join(err, m.Close())
}

// finalSweep deletes the garbage blobs the last moments left (a retried
// validation's earlier attempt, the jobs handed back, the uploads cut off),
// so that a clean stop leaves a store that fsck finds consistent; a sweep
// at the next start would do it too.
func (m *Main) finalSweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Uploads cut off by the stop release their reservations, and
	// validations hand back their jobs, on their way out: wait for them.
	if res, jobs := m.Service.Drain(ctx); res+jobs > 0 {
		m.Logger.Warn("stopping with work still holding leases; they will lapse", "reservations", res, "jobs", jobs)
	}
	if err := m.Service.Sweep(ctx); err != nil {
		m.Logger.Warn("final sweep failed; the next start's sweep will finish it", "err", err)
	}
}

// Open builds and starts everything.
func (m *Main) Open(ctx context.Context) error {
	c := &m.Config
	m.logOut = logbuf.New(os.Stderr, logFlushInterval)
	m.Logger = newLogger(c.LogFormat, m.logOut)
	slog.SetDefault(m.Logger)
	memLimit, memSource, err := memoryLimit(c.MemoryLimit)
	if err != nil {
		return err
	}
	debug.SetMemoryLimit(memLimit)
	quota, err := silo.ParseSize(c.DefaultQuota)
	if err != nil {
		return fmt.Errorf("--default-quota: %w", err)
	}
	maxSize, err := silo.ParseSize(c.MaxDatasetSize)
	if err != nil {
		return fmt.Errorf("--max-dataset-size: %w", err)
	}
	retention, err := silo.ParseDuration(c.Retention)
	if err != nil {
		return fmt.Errorf("--retention: %w", err)
	}
	ttl, err := silo.ParseDuration(c.URLTTL)
	if err != nil || ttl <= 0 {
		return fmt.Errorf("--url-ttl: want a positive duration such as 1h, not %q", c.URLTTL)
	}
	uploadTTL, err := silo.ParseDuration(c.UploadTTL)
	if err != nil || uploadTTL < time.Second {
		return fmt.Errorf("--upload-ttl: want a duration of at least 1s, not %q", c.UploadTTL)
	}
	lease, err := silo.ParseDuration(c.LeaseTTL)
	if err != nil || lease < time.Second {
		return fmt.Errorf("--lease-ttl: want a duration of at least 1s, not %q", c.LeaseTTL)
	}
	limits, err := parseLimits(c)
	if err != nil {
		return err
	}
	vopts := validate.Options{}
	if c.Tokenizer != "" {
		tok, err := hfbpe.Load(c.Tokenizer)
		if err != nil {
			return fmt.Errorf("--tokenizer: %w", err)
		}
		vopts.Tokenizer = tok
	}
	embedded, err := m.openStores(ctx)
	if err != nil {
		return err
	}
	m.Service = &silo.Service{
		Store: silo.WithDeadlines(m.Store, limits.requestTimeout), Blobs: m.Blobs, Validator: validate.New(vopts), Logger: m.Logger,
		Node: nodeName(), DefaultQuota: quota, MaxDatasetSize: maxSize, Retention: retention, Workers: c.Workers,
		LeaseTTL: lease, UploadTTL: uploadTTL, ValidationGC: validationGC(),
	}
	m.Service.Disk = localDisk(c, limits.minFreeSpace)
	if err := m.bootstrap(ctx); err != nil {
		return err
	}
	if embedded {
		// This process holds the data directory's lock: whatever a previous
		// process left in flight is dead now, not after a lease.
		if err := m.Service.Recover(ctx); err != nil {
			return fmt.Errorf("recovering after the previous run: %w", err)
		}
	}
	secret, err := m.Store.Setting(ctx, "url_signing_key", randomHex(32))
	if err != nil {
		return fmt.Errorf("reading the URL signing key: %w", err)
	}
	m.Server = &api.Server{
		Service: m.Service, Logger: m.Logger, Addr: c.Addr, PublicURL: c.PublicURL,
		URLTTL: ttl, SigningKey: []byte(secret),
	}
	if c.LogFormat != "json" { // newLogger made a text handler on logOut
		m.Server.RequestLogText = m.logOut
	}
	limits.apply(m.Server)
	if embedded {
		m.Server.Backup = embeddedBackup(m)
	}
	m.instrument()
	if err := m.openHooks(); err != nil {
		return err
	}
	if err := m.Server.Open(); err != nil {
		return fmt.Errorf("listening on %s: %w", c.Addr, err)
	}
	m.Dispatcher.Source = m.Server.PublicURL // known once listening; the dispatcher starts in Run
	m.Logger.Info("silo listening", "addr", strings.TrimPrefix(strings.TrimPrefix(m.Server.URL(), "http://"), "https://"), "url", m.Server.URL(), "node", m.Service.Node,
		"memory_limit", memLimitText(memLimit, memSource))
	if u := m.Server.MetricsURL(); u != "" {
		m.Logger.Info("metrics listening without authentication", "addr", strings.TrimPrefix(u, "http://"), "url", u+"/metrics")
	}
	m.logOut.Flush() // scripts wait for this line
	return nil
}

// openMetadata opens the metadata store --db names (SQLite in --data by
// default, its directory locked); it reports whether that is embedded.
func (m *Main) openMetadata(ctx context.Context) (embedded bool, err error) {
	c := &m.Config
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.Join(absPath(c.Data), "silo.db")
	}
	switch {
	case strings.HasPrefix(c.DB, "sqlite:"):
		path, err := sqlite.ParseURL(c.DB)
		if err != nil {
			return false, err
		}
		if m.unlock, err = lockFile(path + ".lock"); err != nil {
			return false, err
		}
		if m.Store, err = sqlite.Open(ctx, path); err != nil {
			return false, err
		}
		return true, nil
	case strings.HasPrefix(c.DB, "postgres:"), strings.HasPrefix(c.DB, "postgresql:"):
		if m.Store, err = postgres.Open(ctx, c.DB); err != nil {
			return false, fmt.Errorf("--db: %w", err)
		}
		return false, nil
	}
	return false, fmt.Errorf("--db %q: unknown scheme; want sqlite:///path/silo.db or postgres://user@host:port/db", c.DB)
}

// openStores opens the metadata and blob stores their URLs name; it
// reports whether silo runs embedded (SQLite), where it owns the store.
func (m *Main) openStores(ctx context.Context) (embedded bool, err error) {
	if embedded, err = m.openMetadata(ctx); err != nil {
		return embedded, err
	}
	c := &m.Config
	if c.Blobs == "" {
		c.Blobs = "file://" + filepath.Join(absPath(c.Data), "blobs")
	}
	switch {
	case strings.HasPrefix(c.Blobs, "file:"):
		dir, err := disk.ParseURL(c.Blobs)
		if err != nil {
			return embedded, err
		}
		if m.Blobs, err = disk.Open(dir); err != nil {
			return embedded, err
		}
	case strings.HasPrefix(c.Blobs, "s3:"):
		if m.Blobs, err = s3.Open(ctx, c.Blobs); err != nil {
			return embedded, fmt.Errorf("--blobs: %w", err)
		}
	default:
		return embedded, fmt.Errorf("--blobs %q: unknown scheme; want file:///path or s3://bucket?endpoint=...", c.Blobs)
	}
	return embedded, nil
}

// bootstrap creates the first admin key on a store without keys. A key
// from SILO_BOOTSTRAP_KEY is never printed; a generated one is printed once
// on stderr and written to DATA/bootstrap.key (0600).
func (m *Main) bootstrap(ctx context.Context) error {
	given := os.Getenv("SILO_BOOTSTRAP_KEY")
	secret, err := m.Service.Bootstrap(ctx, given)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if secret == "" || given != "" {
		return nil
	}
	path := filepath.Join(m.Config.Data, "bootstrap.key")
	if err := os.MkdirAll(m.Config.Data, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "\nsilo: created organization \"default\" and its admin API key (also in %s):\n\n    %s\n\n", path, secret)
	return nil
}

// Close closes the stores and releases the data directory.
func (m *Main) Close() error {
	var err error
	if m.Store != nil {
		err = m.Store.Close()
	}
	if m.unlock != nil {
		m.unlock()
	}
	if m.logOut != nil {
		m.logOut.Close()
	}
	return err
}

func newLogger(format string, out io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(out, nil))
	}
	return slog.New(slog.NewTextHandler(out, nil))
}

func nodeName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(3))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// lockFile takes an exclusive lock that the kernel drops when the process
// dies, so kill -9 never leaves a stale lock behind.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is locked: another silo process uses this data directory", path)
	}
	return func() { f.Close() }, nil
}
