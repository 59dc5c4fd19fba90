// Package api is silo's HTTP API: Cohere's datasets routes, the admin API,
// signed downloads, health checks. It hides net/http from cmd/silo: build a
// Server, Open it, Close it.
package api

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/silo-datasets/silo"
)

// Server serves the API for one Service.
type Server struct {
	Service *silo.Service
	Logger  *slog.Logger
	// RequestLogText, if set, takes each request's log line directly, in
	// the bytes slog.NewTextHandler(w, nil) would write (requestlog.go);
	// set it only when Logger is such a handler on the same writer. It
	// gets one whole line per Write, from many goroutines at once.
	RequestLogText io.Writer

	Addr          string        // listen address; port 0 picks one
	PublicURL     string        // base of signed download URLs; default http://Addr
	URLTTL        time.Duration // lifetime of a signed download URL
	SigningKey    []byte        // HMAC key of download URLs, shared by all nodes
	ShutdownGrace time.Duration // how long Close lets requests in flight finish
	// DrainDelay is how long Close keeps open connections after it stopped
	// accepting new ones, answering what arrives on them with 503 and
	// Connection: close, before it closes the idle ones (limits.go).
	DrainDelay time.Duration

	// Backup takes a consistent snapshot of the stores for GET
	// /v1/admin/backup; nil answers 501 (PostgreSQL + S3 have their own).
	Backup backupFunc

	// Extra routes mounted on the same mux (dashboard, OpenAPI); never
	// under /v1/ or /v2/, which are the API's (apiFirst).
	Extra map[string]http.Handler
	// Metrics, if set, is served at GET /metrics to admin and metrics keys
	// only; with MetricsAddr, also without a key on that separate listener,
	// for a private network (metricsauth.go).
	Metrics     http.Handler
	MetricsAddr string
	// Wrap, if set, wraps the whole handler (e.g. metrics, rate limits).
	Wrap func(http.Handler) http.Handler

	// Limits (limits.go); zero values take the defaults.
	RateLimit         rate.Limit    // requests per second per API key; 0: none
	RateBurst         int           // bucket size of the rate limit
	MaxInFlight       int           // API requests served at once; more get 503; < 0: no cap
	MaxInFlightPerKey int           // one key's requests served at once (fair.go); < 0: no cap
	BodyIdleTimeout   time.Duration // a body that sends nothing this long is cut off (fair.go); < 0: never
	RequestTimeout    time.Duration // deadline of every API request but uploads and downloads; < 0: none
	WriteTimeout      time.Duration // how long one write of an answer other than a file may take (middleware.go); < 0: none
	ReadHeaderTimeout time.Duration // how long a client may take to send its headers
	IdleTimeout       time.Duration // how long an idle keep-alive connection stays open

	// TLS: with both set, the server speaks HTTPS only (tls.go).
	TLSCert, TLSKey string

	ln       net.Listener
	srv      *http.Server
	metrics  *metricsListener
	handler  http.Handler
	draining atomic.Bool
	done     chan error
	limiter  *keyLimiter
	slots    *keySlots    // per-key requests in flight (fair.go)
	conns    atomic.Int64 // open connections
}

// Defaults for zero Server fields.
const (
	DefaultURLTTL        = time.Hour
	DefaultShutdownGrace = 30 * time.Second
)

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handler returns the whole API as one handler (tests use it directly).
func (s *Server) Handler() http.Handler {
	if s.handler == nil {
		s.handler = s.build()
	}
	return s.handler
}

func (s *Server) build() http.Handler {
	s.slots = newKeySlots(s.perKeyCap()) // shared by perKey and handleDownload
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", named(s.handleHealthz))
	mux.HandleFunc("GET /readyz", named(s.handleReadyz))
	mux.HandleFunc("GET /download/{org}/{dataset}/{index}/{kind}", named(s.handleDownload))

	v1 := http.NewServeMux()
	// Each route with the role it needs (roles.go), checked before its
	// handler reads anything of the request.
	reader, writer, admin := silo.RoleReader, silo.RoleWriter, silo.RoleAdmin
	v1.HandleFunc("GET /v1/me", s.needs(reader, s.handleMe))
	v1.HandleFunc("GET /v1/datasets/usage", s.needs(reader, s.handleUsage))
	v1.HandleFunc("GET /v1/datasets/usage/history", s.needs(reader, s.handleUsageHistory))
	v1.HandleFunc("GET /v1/datasets/usage/breakdown", s.needs(reader, s.handleUsageBreakdown))
	v1.HandleFunc("POST /v1/datasets", s.needs(writer, s.handleCreate))
	v1.HandleFunc("GET /v1/datasets", s.needs(reader, s.handleList))
	v1.HandleFunc("GET /v1/datasets/{id}", s.needs(reader, s.handleGet))
	v1.HandleFunc("DELETE /v1/datasets/{id}", s.needs(writer, s.handleDelete))
	v1.HandleFunc("POST /v1/admin/orgs", s.needs(admin, s.handleCreateOrg))
	v1.HandleFunc("GET /v1/admin/orgs", s.needs(admin, s.handleListOrgs))
	v1.HandleFunc("PATCH /v1/admin/orgs/{id}", s.needs(admin, s.handleSetQuota))
	v1.HandleFunc("DELETE /v1/admin/orgs/{id}", s.needs(admin, s.handleDeleteOrg))
	v1.HandleFunc("POST /v1/admin/keys", s.needs(admin, s.handleCreateKey))
	v1.HandleFunc("GET /v1/admin/keys", s.needs(admin, s.handleListKeys))
	v1.HandleFunc("DELETE /v1/admin/keys/{id}", s.needs(admin, s.handleRevokeKey))
	v1.HandleFunc("POST /v1/admin/projects", s.needs(admin, s.handleCreateProject))
	v1.HandleFunc("GET /v1/admin/projects", s.needs(admin, s.handleListProjects))
	v1.HandleFunc("GET /v1/admin/projects/{id}", s.needs(admin, s.handleGetProject))
	v1.HandleFunc("PATCH /v1/admin/projects/{id}", s.needs(admin, s.handleSetProjectQuota))
	v1.HandleFunc("DELETE /v1/admin/projects/{id}", s.needs(admin, s.handleDeleteProject))
	v1.HandleFunc("GET "+backupPath, s.needs(admin, s.handleBackup))
	v1.HandleFunc("POST /v1/uploads", s.needs(writer, s.handleTusCreate))
	v1.HandleFunc("GET /v1/uploads", s.needs(reader, s.handleTusList))
	v1.HandleFunc("HEAD /v1/uploads/{id}", s.needs(reader, s.handleTusHead))
	v1.HandleFunc("PATCH /v1/uploads/{id}", s.needs(writer, s.handleTusPatch))
	v1.HandleFunc("DELETE /v1/uploads/{id}", s.needs(writer, s.handleTusDelete))
	v1.HandleFunc("POST /v1/webhooks", s.needs(writer, s.handleCreateWebhook))
	v1.HandleFunc("GET /v1/webhooks", s.needs(writer, s.handleListWebhooks))
	v1.HandleFunc("DELETE /v1/webhooks/{id}", s.needs(writer, s.handleDeleteWebhook))
	v1.HandleFunc("GET /v1/webhooks/{id}/deliveries", s.needs(writer, s.handleWebhookDeliveries))
	for _, p := range unimplemented {
		v1.HandleFunc(p, named(s.handleNotImplemented))
	}
	// Authentication comes before routing, so that an unauthenticated
	// caller learns nothing about which routes or ids exist.
	authed := s.authenticate(s.rateLimit(s.perKey(s.limitBody(v1))))
	mux.Handle("/v1/", authed) // what apiFirst lets through: /v1 (redirected), paths that clean into /v1/
	mux.Handle("/v2/", authed)
	for pattern, h := range s.Extra {
		mux.Handle(pattern, h)
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.requireMetricsKey(s.Metrics))
	}
	var h http.Handler = s.drain(s.shed(recoverPanics(apiFirst(authed, mux, named(s.handleTusOptions)))))
	if s.Wrap != nil {
		h = s.Wrap(h)
	}
	return s.logRequests(h)
}

// apiFirst sends every request whose path is under /v1/ or /v2/ to api,
// whose authentication runs before its own routes, and the rest to mux.
// Deciding by the path's prefix rather than by mux's routes keeps what
// reaches api free of a second routing pass (mux's match of "/v1/" is two
// matches: it also tries the path with a slash added), and of mux's own
// answers before authentication: a path that is not clean ("/v1//x",
// "/v1/a/../b") is redirected by api's routes, to a caller with a key.
func apiFirst(api, mux, tusOptions http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isTusOptions(r) {
			tusOptions.ServeHTTP(w, r) // discovery needs no key
			return
		}
		if isAPIPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/")
}

// unimplemented are Cohere routes silo recognises but does not serve: 501,
// so that a client pointed at silo by mistake learns why.
var unimplemented = []string{
	"/v1/embed-jobs", "/v1/embed-jobs/", "/v1/finetuning/", "/v1/chat", "/v1/embed", "/v1/rerank",
	"/v1/classify", "/v1/generate", "/v1/summarize", "/v1/tokenize", "/v1/detokenize", "/v1/models",
	"/v1/models/", "/v1/connectors", "/v1/connectors/", "/v1/batches", "/v1/batches/", "/v1/check-api-key",
	"/v2/chat", "/v2/embed", "/v2/rerank",
}

func (s *Server) handleNotImplemented(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, silo.Errorf(silo.ENOTIMPLEMENTED, "%s is a Cohere route that silo does not implement: silo serves the Datasets API only", r.URL.Path))
}

// Open starts listening and serving in the background.
func (s *Server) Open() error {
	addr := s.Addr
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	var tlsConf *tls.Config
	if s.tlsOn() {
		var err error
		if tlsConf, err = s.tlsConfig(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := s.openMetrics(); err != nil {
		ln.Close()
		return err
	}
	s.ln = ln
	if s.PublicURL == "" {
		s.PublicURL = s.URL()
	}
	s.PublicURL = strings.TrimRight(s.PublicURL, "/")
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, 10*time.Second),
		IdleTimeout:       orDefault(s.IdleTimeout, 2*time.Minute),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
		TLSConfig:         tlsConf,
		ConnState:         s.trackConns,
	}
	s.done = make(chan error, 1)
	if tlsConf != nil {
		go func() { s.done <- s.srv.ServeTLS(ln, s.TLSCert, s.TLSKey) }()
		return nil
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return nil
}

// URL is the address the server listens on, as a base URL.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return s.scheme() + s.ln.Addr().String()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close drains: new connections are refused, requests that still arrive on
// open connections get 503, and requests in flight have ShutdownGrace to
// finish before their connections are closed.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	defer s.closeMetrics()
	s.draining.Store(true)
	s.drainDelay()
	grace := s.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil // drainDelay closed the listener first
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.Service.Ready(ctx); err != nil {
		// The message names the failing check in plain words; the cause
		// (server, path) is only in this log line.
		s.logger().Warn("not ready", "err", err)
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// drain answers 503 once Close has begun (health checks included, so load
// balancers stop sending here).
func (s *Server) drain(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, r, silo.Errorf(silo.EUNAVAILABLE, "the server is shutting down; retry on another node or in a moment"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				slog.ErrorContext(r.Context(), "panic", "value", v, "path", r.URL.Path)
				writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// newRequestID is 64 random bits in hex. They need to be unique, not
// secret: math/rand/v2's generator (ChaCha8, seeded by the runtime) makes
// them without crypto/rand's system call and allocation.
func newRequestID() string {
	var raw [8]byte
	binary.LittleEndian.PutUint64(raw[:], rand.Uint64())
	var b [16]byte
	hex.Encode(b[:], raw[:])
	return string(b[:])
}
