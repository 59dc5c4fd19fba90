package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/silo-datasets/silo"
)

// Fairness: one key cannot take the whole server.
//
//   - perKey caps each API key's requests in flight (and never lets one key
//     hold more than half of the server's slots, so that others always find
//     room); the excess gets 503 + Retry-After before its body is read.
//     Downloads count against the cap of the key that signed their URL
//     (download.go): they are served outside the authenticated chain, and
//     a slow reader of many would otherwise take the server's slots;
//   - idleBody cuts off a request body that sends nothing for
//     BodyIdleTimeout, so that stalled uploads give back their slots and
//     their reservations.
//
// (A create's multipart part headers are bounded by internal/mpart.)

// Defaults for zero Server fields.
const (
	DefaultMaxInFlightPerKey = 32
	DefaultBodyIdleTimeout   = 30 * time.Second
)

// perKeyCap is the in-flight cap of one key: MaxInFlightPerKey, at most
// half of MaxInFlight; 0 when there is none.
func (s *Server) perKeyCap() int {
	n := s.MaxInFlightPerKey
	if n == 0 {
		n = DefaultMaxInFlightPerKey
	}
	if n < 0 {
		return 0
	}
	total := s.MaxInFlight
	if total == 0 {
		total = DefaultMaxInFlight
	}
	if total > 0 {
		n = min(n, max(1, total/2))
	}
	return n
}

// keySlots counts each key's requests in flight, API requests and the
// downloads of URLs it signed alike, against one cap.
type keySlots struct {
	limit    int
	mu       sync.Mutex
	inflight map[string]int
}

// take counts one more request of key id, unless it has its cap already.
func (k *keySlots) take(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.inflight[id] >= k.limit {
		return false
	}
	k.inflight[id]++
	return true
}

// give ends a request that take counted.
func (k *keySlots) give(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.inflight[id]--; k.inflight[id] <= 0 {
		delete(k.inflight, id)
	}
}

// newKeySlots is a counter of requests in flight per key with a cap of
// limit each; nil when limit is 0 (no cap).
func newKeySlots(limit int) *keySlots {
	if limit == 0 {
		return nil
	}
	return &keySlots{limit: limit, inflight: map[string]int{}}
}

// overKeyCap answers a request of a key that has its cap in flight.
func overKeyCap(w http.ResponseWriter, r *http.Request, limit int) {
	w.Header().Set("Connection", "close") // the body is not read
	w.Header().Set("Retry-After", "1")
	writeError(w, r, silo.Errorf(silo.EUNAVAILABLE, "This API key has %d requests in flight, its limit; retry when one of them has finished.", limit))
}

// perKey answers 503 + Retry-After to a key that already has its cap of
// requests in flight. It runs after authentication.
func (s *Server) perKey(next http.Handler) http.Handler {
	slots := s.slots
	if slots == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		if c == nil || c.Key == nil {
			next.ServeHTTP(w, r)
			return
		}
		id := c.Key.ID
		if !slots.take(id) {
			overKeyCap(w, r, slots.limit)
			return
		}
		defer slots.give(id)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) bodyIdleTimeout() time.Duration {
	if s.BodyIdleTimeout == 0 {
		return DefaultBodyIdleTimeout
	}
	return s.BodyIdleTimeout
}

// idleBody gives every read of a request body BodyIdleTimeout to bring a
// byte, through the connection's read deadline; a body that sends nothing
// that long ends with ECANCELED (499 in the logs), and the upload's
// deferred Abort releases its reservation.
type idleBody struct {
	io.ReadCloser
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.rc.SetReadDeadline(time.Now().Add(b.idle)) != nil {
		return b.ReadCloser.Read(p) // not supported (HTTP/2 test recorders): no idle cut-off
	}
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Close the connection after the answer: otherwise net/http would
		// first try to read the rest of the body, from a client that
		// sends nothing.
		b.w.Header().Set("Connection", "close")
		return n, silo.Errorf(silo.ECANCELED, "The request body sent nothing for %s and was cut off; nothing was stored.", b.idle)
	}
	if err != nil {
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
