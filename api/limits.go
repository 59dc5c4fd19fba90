package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/silo-datasets/silo"
)

// Overload and abuse: what one client, or too many at once, may take.
//
//   - shed: a cap on requests in flight; the excess gets 503 + Retry-After
//     before its body is read, so an overloaded node spends nothing on it;
//   - rateLimit: a token bucket per API key (after authentication, so a
//     flood of made-up keys costs one failed lookup each and no bucket);
//   - deadlineOf: a time limit on every request but uploads and downloads,
//     whose length grows with their size; a store call that runs past it
//     ends with context.DeadlineExceeded, which the error table makes 504;
//   - timeWrites: a time limit on each write of an answer that is not a
//     file, so that a client that stops reading gives back its slot;
//   - limitBody: the largest body a route can need (a dataset plus its
//     multipart framing; 1 MB elsewhere), enforced with MaxBytesReader.

// Defaults for zero Server fields.
const (
	DefaultMaxInFlight    = 256
	DefaultRequestTimeout = 30 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	maxSmallBody          = 1 << 20
)

// ParseRateLimit reads N/sec, N/min or N/hour ("500/min"); "0" (or "off")
// turns the limit off and returns 0, 0. The burst is N: a client may spend
// a whole period's requests at once, then waits for tokens.
func ParseRateLimit(s string) (rate.Limit, int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "0" || s == "off" || s == "" {
		return 0, 0, nil
	}
	num, unit, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	per := map[string]time.Duration{"s": time.Second, "sec": time.Second, "second": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "h": time.Hour, "hour": time.Hour}[strings.TrimSpace(unit)]
	if !ok || err != nil || n <= 0 || per == 0 {
		return 0, 0, fmt.Errorf("invalid rate limit %q: want N/sec, N/min or N/hour, or 0 for none", s)
	}
	return rate.Limit(float64(n) / per.Seconds()), n, nil
}

// keyLimiter holds one token bucket per API key. Buckets idle for longer
// than a full refill are dropped: a fresh one is the same as a full one, so
// memory stays bounded by the keys active in the last few periods.
type keyLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyLimiter(limit rate.Limit, burst int) *keyLimiter {
	return &keyLimiter{limit: limit, burst: burst, now: time.Now, buckets: map[string]*bucket{}}
}

// idle is how long a bucket takes to fill up again.
func (l *keyLimiter) idle() time.Duration {
	return time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
}

// allow takes a token of key's bucket; if there is none it returns how long
// until there will be.
func (l *keyLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle() {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > l.idle() {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return false, wait
}

func (l *keyLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// rateLimit answers 429 + Retry-After to a key past its rate. It runs
// after authentication.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.RateLimit <= 0 {
		return next
	}
	l := newKeyLimiter(s.RateLimit, max(1, s.RateBurst))
	s.limiter = l
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		if c == nil || c.Key == nil {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := l.allow(c.Key.ID); !ok {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, r, silo.Errorf(silo.ETOOMANY, "You are past the per minute request limit, please wait and try again later."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// shed caps the requests in flight on the API routes; health checks,
// metrics and the dashboard are never shed, so that an overloaded node is
// still seen as alive.
func (s *Server) shed(next http.Handler) http.Handler {
	n := s.MaxInFlight
	if n == 0 {
		n = DefaultMaxInFlight
	}
	if n < 0 {
		return next
	}
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !limited(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			// The body is not read: close the connection rather than
			// drain an upload we refused.
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			writeError(w, r, silo.Errorf(silo.EUNAVAILABLE, "The server is overloaded (%d requests in flight); retry in a moment.", n))
		}
	})
}

func limited(r *http.Request) bool {
	return isAPIPath(r.URL.Path) || strings.HasPrefix(r.URL.Path, "/download/")
}

// isUpload reports whether the request is a create, whose body may be a
// whole dataset.
func isUpload(r *http.Request) bool {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodPost:
		return p == "/v1/datasets" || p == uploadsPath // a create, or a tus creation-with-upload
	case http.MethodPatch:
		return strings.HasPrefix(p, uploadsPath+"/") // a tus PATCH
	}
	return false
}

// isFile reports whether the request's answer is a file, whose writes
// wait on the reader as long as it reads: a download or a backup.
func isFile(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/download/") || r.URL.Path == backupPath
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout == 0 {
		return DefaultWriteTimeout
	}
	return s.WriteTimeout
}

// isUnpagedList reports whether the request lists datasets without a limit.
func isUnpagedList(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.TrimSuffix(r.URL.Path, "/") == "/v1/datasets" && r.URL.Query().Get("limit") == ""
}

// deadlineOf is the deadline of a request that arrived at start: API
// requests have one, except uploads and unpaged lists, whose duration
// grows with their size (an unpaged list streams all of an organisation's
// datasets, as Cohere's SDKs ask for them) and which the HTTP server's own
// timeouts and the client's connection bound instead (downloads too, and
// backups). logRequests puts it in the request's context, which it makes
// anyway: a second context would be a second copy of the request.
func (s *Server) deadlineOf(r *http.Request, start time.Time) (time.Time, bool) {
	d := s.RequestTimeout
	if d == 0 {
		d = DefaultRequestTimeout
	}
	if d < 0 || !isAPIPath(r.URL.Path) || isUpload(r) || isUnpagedList(r) || r.URL.Path == backupPath {
		return time.Time{}, false
	}
	return start.Add(d), true
}

// limitBody bounds request bodies: a create may carry the largest dataset
// plus its multipart framing; nothing else needs more than 1 MB.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxSmallBody)
		if isUpload(r) {
			limit = s.maxDatasetSize() + silo.MultipartSlack
		}
		// A create's size is the service's to refuse, with its own message.
		if !isUpload(r) && r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			writeError(w, r, silo.Errorf(silo.EINVALID, "The request body is too large: at most %d bytes (%s) are accepted here.", limit, silo.FormatSize(limit)))
			return
		}
		if r.ContentLength == 0 { // no body: nothing to bound or time
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if idle := s.bodyIdleTimeout(); idle > 0 && r.ContentLength != 0 {
			rc := http.NewResponseController(w)
			r.Body = &idleBody{ReadCloser: r.Body, w: w, rc: rc, idle: idle}
			// The deadline must not outlive the body: the server's
			// background read of the connection would hit it.
			defer rc.SetReadDeadline(time.Time{})
		}
		next.ServeHTTP(w, r)
	})
}

// drainDelay stops accepting connections and waits DrainDelay: net/http's
// Shutdown closes idle keep-alive connections at once, so without the
// delay a client with an open connection would see it closed instead of
// the 503 + Connection: close that tells it to go elsewhere.
// It ends early once no connection is open.
func (s *Server) drainDelay() {
	if s.DrainDelay <= 0 {
		return
	}
	s.ln.Close()
	for end := time.Now().Add(s.DrainDelay); time.Now().Before(end) && s.conns.Load() > 0; {
		time.Sleep(10 * time.Millisecond)
	}
}

// trackConns counts open connections, for drainDelay.
func (s *Server) trackConns(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
	}
}

func (s *Server) maxDatasetSize() int64 {
	if s.Service != nil && s.Service.MaxDatasetSize > 0 {
		return s.Service.MaxDatasetSize
	}
	return silo.DefaultMaxDatasetSize
}
